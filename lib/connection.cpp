#include <connkit/connection.hpp>


#include <connkit/error.hpp>

#include <time.h>
#include <unistd.h>

#include <type_traits>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "address_text.hpp"
#include "datagram_peer.hpp"
#include "log_line.hpp"
#include "worker.hpp"

namespace connkit {

Connection::Connection(detail::Worker& worker, unsigned listener, std::unique_ptr<ProtocolHandler> handler)
    : worker_(worker), handler_(std::move(handler)), listener_(listener) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
  if (out_ != nullptr) return_output();
  return_read_buffer();
}

void Connection::touch_active() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  static_assert(std::is_same_v<std::chrono::steady_clock::period, std::nano>);
  last_active_.store(static_cast<std::chrono::steady_clock::rep>(now.tv_sec) * 1'000'000'000 + now.tv_nsec,
                     std::memory_order_relaxed);
}

void Connection::make_datagram() { dgram_ = std::make_unique<detail::DatagramPeer>(); }

Transport Connection::transport() const noexcept { return worker_.options().listeners[listener_].transport; }

unsigned Connection::worker_index() const noexcept { return worker_.index(); }

int Connection::verbosity() const noexcept { return worker_.logger().verbosity(); }

void Connection::set_verbosity(int level) noexcept { worker_.logger().set_verbosity(level); }

void Connection::log(int level, std::string_view line) const { worker_.log(level, line); }

void Connection::borrow_output() { out_ = worker_.reply_lists().take(); }

void Connection::return_output() noexcept {
  worker_.reply_lists().give(out_);
  out_ = nullptr;
}

void Connection::return_read_buffer() noexcept {
  if (!rbuf_.has_storage()) return;
  const std::size_t capacity = rbuf_.capacity();
  worker_.read_buffers().release(rbuf_.detach(), capacity);
}

bool Connection::grow_read_buffer(std::size_t at_least) {
  const std::size_t limit = worker_.options().read_buffer_limit;
  std::size_t capacity = std::max(rbuf_.capacity(), worker_.read_buffers().buffer_size());
  while (capacity < at_least) capacity *= 2;
  capacity = std::min(capacity, std::max(limit, at_least));
  char* bigger = worker_.read_buffers().allocate(capacity);
  if (bigger == nullptr) return false;
  const std::size_t old_capacity = rbuf_.capacity();
  char* old = rbuf_.replace(bigger, capacity);
  if (old != nullptr) worker_.read_buffers().release(old, old_capacity);
  return true;
}

std::string Connection::peer_address() {
  if (dgram_ != nullptr) return detail::address_text(dgram_->address, dgram_->length, false);
  const std::string text = detail::socket_address_text(fd_, true, false);
  return text.rfind("unix:", 0) == 0 ? "unix" : text;
}

void Connection::open(int fd) {
  close_reason_.clear();
  kicked_ = false;
  flush_on_kick_ = false;
  linger_ = false;
  lingering_ = false;
  incomplete_ = false;
  requests_in_event_ = 0;
  after_write_ = ConnState::new_cmd;
  body_dest_ = nullptr;
  body_size_ = body_done_ = 0;
  poll_wait_ = Wait::none;
  in_ready_ = out_ready_ = true;  // a new socket may already hold input
  touch_active();
  fd_number_.store(fd, std::memory_order_relaxed);
  set_state(ConnState::new_cmd);
  if (dgram_ == nullptr) {
    detail::logf(worker_.logger(), 2, "<%d new %.*s client connection.", fd, static_cast<int>(handler_->protocol_name().size()),
                 handler_->protocol_name().data());
  }
  try {
    handler_->on_open(*this);
  } catch (...) {
    close_reason_ = make_error_code(errc::protocol_close);
    set_state(ConnState::closing);
  }
  drive();
}

bool Connection::waiting_for_input() const noexcept {
  return op_pending_ && !kicked_ && !lingering_ && dgram_ == nullptr &&
         (state_ == ConnState::read || state_ == ConnState::nread || state_ == ConnState::swallow);
}

void Connection::kick(boost::system::error_code reason, bool flush_first) {
  if (state_ == ConnState::closing) return;
  if (lingering_ && flush_first) return;  // already flushed; the linger ends on its own
  if (!close_reason_) close_reason_ = reason;
  if (flush_first && (state_ == ConnState::write || state_ == ConnState::mwrite)) {
    after_write_ = ConnState::closing;  // let the write in progress finish, then close
    return;
  }
  kicked_ = true;
  flush_on_kick_ = flush_first;
  linger_ = flush_first;  // a graceful close: what was sent must not be destroyed by RST
  if (op_pending_) {
    // A wait for readiness ends now, as a cancelled Asio wait would: on_wait_done closes.
    // A pending post (a fairness yield) sees kicked_ when it runs.
    if (poll_wait_ != Wait::none) {
      poll_wait_ = Wait::none;
      auto aborted = [this] { on_wait_done(boost::asio::error::operation_aborted); };
      boost::asio::post(worker_.io(), detail::SlotBound<decltype(aborted)>(slot_, aborted));
      worker_.poller().note_post();
    }
    return;
  }
  set_state(ConnState::closing);
  drive();
}

}  // namespace connkit
