#include "poller.hpp"

#include <cerrno>
#include <cstdint>
#include <span>

#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>


#include "asio_reactor.hpp"
#include "connection_engine.hpp"

namespace connkit::detail {
namespace {

// Events taken from the set per epoll_wait; more wait for the next round.
constexpr int max_events = 128;
// Replies one wake-up can send through the ring; more go out with send().
constexpr unsigned ring_entries = 256;
// How long the start-up check waits for a due Asio timer to wake the set. A reactor that
// works wakes it at once; only a broken assumption pays this, once per worker.
constexpr int self_test_timeout_ms = 250;

// epoll_event.data.ptr of the descriptors that are not connections: the loop mode's two,
// and add_notifier's.
char asio_marker;
char wake_marker;
char notify_marker;

[[noreturn]] void throw_errno(const char* what) {
  throw boost::system::system_error(errno, boost::system::system_category(), what);
}

int create_set() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw_errno("epoll_create1");
  return fd;
}

void add_marker(int set, int fd, char* marker, const char* what) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: ready until drained
  ev.data.ptr = marker;
  if (::epoll_ctl(set, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno(what);
}

}  // namespace

Poller::Poller(boost::asio::io_context& io, bool loop, bool ring, bool fail_self_test)
    : io_(io), fd_(create_set()), loop_(loop), use_ring_(ring) {
  if (loop_) {
    const int reactor = asio_reactor_descriptor(io);
    loop_ = reactor >= 0;  // else not a reactor the loop can share: the watched mode
    if (loop_) {
      try {
        wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_fd_ < 0) throw_errno("eventfd");
        add_marker(fd_, reactor, &asio_marker, "epoll_ctl (Asio reactor)");
        add_marker(fd_, wake_fd_, &wake_marker, "epoll_ctl (eventfd)");
      } catch (...) {
        if (wake_fd_ >= 0) ::close(wake_fd_);
        ::close(fd_);
        throw;
      }
      if (!fail_self_test && reactor_wakes_set()) return;
      // The loop would sleep through Asio's timers: leave the set to connections only.
      epoll_event ignored{};
      (void)::epoll_ctl(fd_, EPOLL_CTL_DEL, reactor, &ignored);
      ::close(wake_fd_);
      wake_fd_ = -1;
      loop_ = false;
    }
  }
  watch_.emplace(io, fd_);  // owns fd_ from here
}

bool Poller::reactor_wakes_set() {
  // The loop's one assumption about Asio: the descriptor asio_reactor_descriptor() gave
  // becomes readable when a timer falls due, and io_context::poll() then runs the timer's
  // handler. Checked once, before the io_context runs anywhere, with a zero-delay timer.
  bool fired = false;
  bool woke = false;
  {
    boost::asio::steady_timer timer(io_);
    timer.expires_after(std::chrono::nanoseconds(0));
    timer.async_wait([&fired](const boost::system::error_code& ec) { fired = !ec; });
    epoll_event events[4];
    int n;
    do {
      n = ::epoll_wait(fd_, events, 4, self_test_timeout_ms);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; ++i) woke = woke || events[i].data.ptr == &asio_marker;
    if (woke) io_.poll();
    timer.cancel();  // not fired: its handler runs (aborted) in the poll below
  }
  io_.poll();
  io_.restart();  // poll() stopped the io_context when it ran out of work
  return woke && fired;
}

Poller::~Poller() {
  if (watch_) return;  // the stream_descriptor closes the set
  ::close(wake_fd_);
  ::close(fd_);
}

void Poller::add(int fd, ConnectionEngine& c, boost::system::error_code& ec) noexcept {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  ev.data.ptr = &c;
  if (::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ec.assign(errno, boost::system::system_category());
  } else {
    ec.clear();
  }
}

void Poller::add_notifier(int fd, void (*fn)(void*) noexcept, void* context) {
  notify_ = fn;
  notify_context_ = context;
  add_marker(fd_, fd, &notify_marker, "epoll_ctl (notifier)");
}

void Poller::remove(int fd) noexcept {
  epoll_event ignored{};
  (void)::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, &ignored);
}

void Poller::start() {
  running_ = true;
  if (use_ring_) ring_.open(ring_entries);
  arm();
}

void Poller::stop() noexcept {
  running_ = false;
  if (!watch_) return;
  boost::system::error_code ignored;
  watch_->cancel(ignored);
}

void Poller::wake() noexcept {
  if (!loop_) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);  // EAGAIN: already signalled
}

void Poller::run() {
  epoll_event events[max_events];
  // Handlers posted before the thread started (start, adopt) run first.
  asio_due_ = true;
  for (;;) {
    if (asio_due_) {
      asio_due_ = false;
      io_.poll();  // one epoll_wait on the reactor, then every ready handler
      if (io_.stopped()) return;
    }
    const int n = ::epoll_wait(fd_, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("epoll_wait");
    }
    deliver(events, n);
    if (io_.stopped()) return;  // the last connection closed and nothing else is left
  }
}

void Poller::arm() {
  if (!running_ || armed_ || !watch_) return;
  armed_ = true;
  auto ready = [this](const boost::system::error_code& ec) {
    armed_ = false;
    if (ec || !running_) return;
    dispatch();
    arm();
  };
  watch_->async_wait(boost::asio::posix::stream_descriptor::wait_read, SlotBound<decltype(ready), WaitSlot>(slot_, ready));
}

void Poller::dispatch() {
  epoll_event events[max_events];
  int n;
  do {
    n = ::epoll_wait(fd_, events, max_events, 0);
    deliver(events, n);
  } while (n == max_events && running_);
}

void Poller::deliver(const epoll_event* events, int n) {
  struct Delivering {
    bool& flag;
    explicit Delivering(bool& f) : flag(f) { flag = true; }
    ~Delivering() { flag = false; }
  } delivering(delivering_);
  // Connections never leave memory while their worker runs (the pool keeps them), so an
  // event for one closed earlier in this batch only sets its readiness bits; open()
  // resets them for the next socket.
  for (int i = 0; i < n; ++i) {
    void* const target = events[i].data.ptr;
    if (target == &asio_marker) {
      asio_due_ = true;
    } else if (target == &wake_marker) {
      std::uint64_t count;
      (void)!::read(wake_fd_, &count, sizeof count);  // drained before the poll that follows
      asio_due_ = true;
    } else if (target == &notify_marker) {
      notify_(notify_context_);
    } else if (running_) {
      static_cast<ConnectionEngine*>(target)->on_poll(events[i].events);
    }
  }
  flush_sends();
}

bool Poller::defer_send(int fd, const iovec& bytes, ConnectionEngine* c) noexcept {
  return delivering_ && ring_.queue(fd, bytes.iov_base, bytes.iov_len, c);
}

void Poller::flush_sends() {
  // A finished send lets its connection go on (the next pipelined request, say), which may
  // queue another: rounds until nothing is queued. The fairness budget (reqs_per_event)
  // bounds how long one connection stays in these rounds.
  while (ring_.queued() != 0) {
    ring_.complete([](void* token, int result) { static_cast<ConnectionEngine*>(token)->on_sent(result); });
  }
}

}  // namespace connkit::detail
