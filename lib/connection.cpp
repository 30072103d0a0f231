// The Connection facade, and the engine's buffers and bookkeeping. Every state transition
// is in drive_machine.cpp; socket reads and sends are in connection_io.cpp.

#include "connection_engine.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <type_traits>

#include "address_text.hpp"
#include "datagram_peer.hpp"
#include "deferred.hpp"
#include "log_line.hpp"
#include "worker.hpp"

namespace connkit {

void Connection::reply(std::string_view bytes) { engine_->output().append_copy(bytes); }
void Connection::reply_ref(std::span<const char> bytes, BufferOwner owner) { engine_->output().append_ref(bytes, owner); }
std::span<char> Connection::reply_space(std::size_t n) { return engine_->output().prepare(n); }
void Connection::commit_reply(std::size_t n) { engine_->output().commit(n); }
std::size_t Connection::pending_output() const noexcept { return engine_->pending_output(); }
ConnState Connection::state() const noexcept { return engine_->state(); }
int Connection::native_handle() const noexcept { return engine_->fd(); }
Transport Connection::transport() const noexcept {
  return engine_->worker().options().listeners[engine_->listener()].transport;
}
unsigned Connection::listener_index() const noexcept { return engine_->listener(); }
unsigned Connection::worker_index() const noexcept { return engine_->worker().index(); }
std::string Connection::peer_address() { return engine_->peer_address(); }
std::chrono::steady_clock::time_point Connection::last_active() const noexcept { return engine_->last_active(); }
int Connection::verbosity() const noexcept { return engine_->worker().logger().verbosity(); }
void Connection::set_verbosity(int level) noexcept { engine_->worker().logger().set_verbosity(level); }
void Connection::log(int level, std::string_view line) const { engine_->worker().log(level, line); }
ProtocolHandler& Connection::handler() noexcept { return engine_->handler(); }
DeferredReply Connection::defer() { return engine_->defer(); }
std::size_t Connection::deferred() const noexcept { return engine_->deferred(); }
boost::asio::io_context::executor_type Connection::executor() const noexcept {
  return engine_->worker().io().get_executor();
}
std::uint64_t Connection::id() const noexcept { return engine_->id(); }
void Connection::refuse(std::string_view reply) { engine_->refuse(reply); }
bool Connection::authenticated() const noexcept { return engine_->authenticated(); }
void Connection::record_auth(bool ok) noexcept { engine_->record_auth(ok); }

namespace detail {

ConnectionEngine::ConnectionEngine(Worker& worker, unsigned listener, std::unique_ptr<ProtocolHandler> pinned)
    : worker_(worker),
      listener_(listener),
      max_deferred_(worker.options().listeners[listener].max_deferred),
      negotiates_(negotiates(worker.options().listeners[listener])) {
  if (pinned != nullptr) {
    // Kept in the slot of the factory that made it: `handler`, or `binary_handler` alone.
    handler_ = pinned.get();
    handlers_[worker.options().listeners[listener].handler ? 0 : 1] = std::move(pinned);
  }
}

ConnectionEngine::~ConnectionEngine() {
  if (fd_ >= 0) ::close(fd_);
  if (out_ != nullptr) return_output();
  return_read_buffer();
}

std::chrono::steady_clock::time_point ConnectionEngine::coarse_now() noexcept {
  // The coarse clock (same base as steady_clock, a few ms behind) reads the vDSO's last
  // tick instead of the TSC.
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  static_assert(std::is_same_v<std::chrono::steady_clock::period, std::nano>);
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(static_cast<std::chrono::steady_clock::rep>(now.tv_sec) * 1'000'000'000 + now.tv_nsec));
}

void ConnectionEngine::touch_active() noexcept {
  // Once per read.
  last_active_.store(coarse_now().time_since_epoch().count(), std::memory_order_relaxed);
}

bool ConnectionEngine::choose_handler(bool binary) {
  std::unique_ptr<ProtocolHandler>& kept = handlers_[binary ? 1 : 0];
  if (kept == nullptr) {
    // The first client of this protocol on this struct; later ones reuse the handler.
    const ListenerOptions& o = worker_.options().listeners[listener_];
    try {
      kept = binary ? o.binary_handler() : o.handler();
    } catch (...) {
      kept = nullptr;
    }
    if (kept == nullptr) {
      worker_.counters()[&ConnectionStats::malloc_fails].add();
      logf(worker_.logger(), 1, "<%d could not make a %s protocol handler", fd_, binary ? "binary" : "text");
      return false;
    }
  }
  handler_ = kept.get();
  if (dgram_ == nullptr && worker_.logger().enabled(2)) {
    const std::string_view name = handler_->protocol_name();
    logf(worker_.logger(), 2, "%d: Client using the %.*s protocol", fd_, static_cast<int>(name.size()), name.data());
  }
  return true;
}

void ConnectionEngine::record_auth(bool ok) noexcept {
  authenticated_ = ok;
  worker_.counters()[&ConnectionStats::auth_cmds].add();
  if (!ok) worker_.counters()[&ConnectionStats::auth_errors].add();
}

void ConnectionEngine::make_datagram() {
  dgram_ = std::make_unique<DatagramPeer>();
  dgram_->framing = worker_.options().listeners[listener_].framing.get();
}

std::string ConnectionEngine::peer_address() {
  if (dgram_ != nullptr) return address_text(dgram_->address, dgram_->length, false);
  const std::string text = socket_address_text(fd_, true, false);
  return text.rfind("unix:", 0) == 0 ? "unix" : text;
}

DeferredReply ConnectionEngine::defer() {
  if (dgram_ != nullptr) {
    // One datagram is one input and its reply goes to that datagram's sender at once.
    logf(worker_.logger(), 1, "<%d defer() on a UDP listener: not supported", fd_);
    return {};
  }
  ReplyList& out = output();
  DeferredRecord& r = worker_.deferred().acquire(*this);
  try {
    r.ticket = out.hold();
  } catch (...) {
    worker_.deferred().cancel(r);
    throw;
  }
  r.next = deferred_head_;
  if (deferred_head_ != nullptr) deferred_head_->prev = &r;
  deferred_head_ = &r;
  ++deferred_count_;
  worker_.counters()[&ConnectionStats::deferred_replies].add();
  return {&r, r.generation()};
}

void ConnectionEngine::cancel_deferred() noexcept {
  // Closing: completing these handles does nothing from now on (or, for one being
  // completed right now, its record is freed when it arrives).
  for (DeferredRecord* r = deferred_head_; r != nullptr;) {
    DeferredRecord* next = r->next;
    worker_.deferred().cancel(*r);
    worker_.counters()[&ConnectionStats::deferred_cancelled].add();
    r = next;
  }
  deferred_head_ = nullptr;
  deferred_count_ = 0;
}

void ConnectionEngine::borrow_output() { out_ = worker_.reply_lists().take(); }

void ConnectionEngine::return_output() noexcept {
  worker_.reply_lists().give(out_);
  out_ = nullptr;
}

void ConnectionEngine::return_read_buffer() noexcept {
  if (!rbuf_.has_storage()) return;
  const std::size_t capacity = rbuf_.capacity();
  worker_.read_buffers().release(rbuf_.detach(), capacity);
}

bool ConnectionEngine::grow_read_buffer(std::size_t at_least) {
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

bool ConnectionEngine::waiting_for_input() const noexcept {
  const ConnState s = state();
  return op_pending_ && closing_ == Closing::no && dgram_ == nullptr && deferred_count_ == 0 &&
         (s == ConnState::read || s == ConnState::nread || s == ConnState::swallow);
}

}  // namespace detail
}  // namespace connkit
