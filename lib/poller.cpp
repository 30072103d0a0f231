#include "poller.hpp"

#include <cerrno>

#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <connkit/connection.hpp>

namespace connkit::detail {
namespace {

// Events taken from the set per epoll_wait; more wait for the next round.
constexpr int max_events = 128;

int create_set() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw boost::system::system_error(errno, boost::system::system_category(), "epoll_create1");
  return fd;
}

}  // namespace

Poller::Poller(boost::asio::io_context& io) : set_(io, create_set()) {}

void Poller::add(int fd, Connection& c, boost::system::error_code& ec) noexcept {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  ev.data.ptr = &c;
  if (::epoll_ctl(set_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    ec.assign(errno, boost::system::system_category());
  } else {
    ec.clear();
  }
}

void Poller::remove(int fd) noexcept {
  epoll_event ignored{};
  (void)::epoll_ctl(set_.native_handle(), EPOLL_CTL_DEL, fd, &ignored);
}

void Poller::start() {
  running_ = true;
  arm();
}

void Poller::stop() noexcept {
  running_ = false;
  boost::system::error_code ignored;
  set_.cancel(ignored);
}

void Poller::arm() {
  if (!running_ || armed_) return;
  armed_ = true;
  auto ready = [this](const boost::system::error_code& ec) {
    armed_ = false;
    if (ec || !running_) return;
    dispatch();
    arm();
  };
  set_.async_wait(boost::asio::posix::stream_descriptor::wait_read, SlotBound<decltype(ready), WaitSlot>(slot_, ready));
}

void Poller::dispatch() {
  epoll_event events[max_events];
  int n;
  do {
    n = ::epoll_wait(set_.native_handle(), events, max_events, 0);
    // Connections never leave memory while their worker runs (the pool keeps them), so an
    // event for one closed earlier in this batch only sets its readiness bits; open()
    // resets them for the next socket.
    for (int i = 0; i < n && running_; ++i) static_cast<Connection*>(events[i].data.ptr)->on_poll(events[i].events);
  } while (n == max_events && running_);
}

}  // namespace connkit::detail
