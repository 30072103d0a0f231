#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <sys/types.h>
#include <sys/uio.h>

#include <boost/system/error_code.hpp>

#include <connkit/conn_state.hpp>
#include <connkit/connection.hpp>
#include <connkit/options.hpp>
#include <connkit/protocol_handler.hpp>
#include <connkit/reply_list.hpp>

#include "handler_slot.hpp"
#include "read_buffer.hpp"

namespace connkit::detail {

class Worker;
struct DatagramPeer;
struct DeferredRecord;

/// The listener negotiates: both factories are set, and the first byte a connection
/// receives chooses which one's handler serves it (ListenerOptions::binary_handler).
inline bool negotiates(const ListenerOptions& o) noexcept { return o.handler && o.binary_handler; }

/// The first byte that chooses ListenerOptions::binary_handler (memcached's
/// PROTOCOL_BINARY_REQ, the binary protocol's request magic).
inline constexpr unsigned char binary_magic = 0x80;

/// How a connection is closing, beside its ConnState (which says what it does now).
/// Set only by the state machine (drive_machine.cpp).
enum class Closing : std::uint8_t {
  no,        ///< serving
  abort,     ///< close once the pending operation ends; queued replies are dropped
  flush,     ///< send what is queued, then close gracefully (FIN, then linger)
  lingering, ///< writes shut down; input is discarded until EOF or the linger timeout
};

/// The library's side of one pooled connection: the socket, its buffers, readiness, body
/// progress, the close sub-state, the worker's list links, and the state machine
/// (memcached's `conn` with drive_machine). Handlers see only its Connection facade.
///
/// Files: lifecycle and buffers in connection.cpp, every state transition in
/// drive_machine.cpp, socket reads and sends in connection_io.cpp.
/// Used on its worker's thread only, except state() and last_active() (relaxed atomics,
/// read by Server::connections()).
class ConnectionEngine {
 public:
  /// `pinned`: the handler of a pinned listener's struct; null for a negotiating listener,
  /// whose struct makes its handlers when first bytes ask for them.
  ConnectionEngine(Worker& worker, unsigned listener, std::unique_ptr<ProtocolHandler> pinned);
  ~ConnectionEngine();
  ConnectionEngine(const ConnectionEngine&) = delete;
  ConnectionEngine& operator=(const ConnectionEngine&) = delete;

  // --- What the Connection facade forwards to -------------------------------------------
  Connection& facade() noexcept { return facade_; }
  ReplyList& output() {
    if (out_ == nullptr) borrow_output();
    return *out_;
  }
  std::size_t pending_output() const noexcept { return out_ != nullptr ? out_->pending_bytes() : 0; }
  ConnState state() const noexcept { return state_.load(std::memory_order_relaxed); }
  int fd() const noexcept { return fd_; }
  /// Connection::id(): assigned by open(). Readable from any thread (Server::connections()).
  std::uint64_t id() const noexcept { return id_.load(std::memory_order_relaxed); }
  unsigned listener() const noexcept { return listener_; }
  Worker& worker() const noexcept { return worker_; }
  /// The chosen handler; only while one is (inside its callbacks, it is).
  ProtocolHandler& handler() noexcept { return *handler_; }
  /// The chosen handler, or nullptr for a negotiating connection before its first byte (or
  /// closed). A pinned connection's handler is chosen from the start.
  ProtocolHandler* chosen_handler() noexcept { return handler_; }
  std::chrono::steady_clock::time_point last_active() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_active_.load(std::memory_order_relaxed)));
  }
  std::string peer_address();
  /// Connection::defer(): a hold in the reply list and a pending record for it.
  DeferredReply defer();
  /// Handles taken and not completed yet.
  std::size_t deferred() const noexcept { return deferred_count_; }
  /// Connection::authenticated() and record_auth(): reset by open().
  bool authenticated() const noexcept { return authenticated_; }
  void record_auth(bool ok) noexcept;

  // --- Lifecycle, called by the worker (drive_machine.cpp) ------------------------------
  /// Makes this a UDP listener's connection (one datagram is one input).
  void make_datagram();
  bool is_datagram() const noexcept { return dgram_ != nullptr; }
  /// Serves a newly accepted (or datagram) socket already registered with the Poller.
  void open(int fd);
  /// Closes from outside the state machine: at once (`flush_first` false) or after the
  /// queued replies are sent (a graceful stop). The first reason given is kept.
  void kick(boost::system::error_code reason, bool flush_first);
  /// Idle in a read: the idle sweep may close it.
  bool waiting_for_input() const noexcept;
  /// In a write wait, not closing, since `timeout` or longer before `now`: the peer
  /// stopped reading (write_stall_timeout).
  bool write_stalled(std::chrono::steady_clock::time_point now, std::chrono::milliseconds timeout) const noexcept {
    return poll_wait_ == Wait::write && closing_ == Closing::no && dgram_ == nullptr &&
           now - write_wait_since_ >= timeout;
  }
  /// A stream connection not closing yet: a reply queued now will be sent (on_stop).
  bool serving() const noexcept {
    return closing_ == Closing::no && state() != ConnState::closing && dgram_ == nullptr;
  }
  /// Connection::refuse(): queue `reply`, then close gracefully after the current callback.
  void refuse(std::string_view reply);
  /// In a graceful close's drain of input.
  bool lingering() const noexcept { return closing_ == Closing::lingering; }
  /// The descriptor as Server::connections() may read it from any thread (-1 once closed).
  int listed_fd() const noexcept { return fd_number_.load(std::memory_order_relaxed); }

  // --- Readiness, delivered by the Poller ------------------------------------------------
  /// Edge-triggered epoll events for this socket.
  void on_poll(std::uint32_t events);
  /// A reply the Poller sent for us through its ring: bytes sent, or -errno.
  void on_sent(int result);
  /// One of our deferred replies was given (delivered on the worker): fill its hold and
  /// send what became ready.
  void on_deferred_done(DeferredRecord& r) noexcept;

  /// The worker's list of open connections (Worker::link / unlink own these).
  ConnectionEngine* list_prev = nullptr;
  ConnectionEngine* list_next = nullptr;

 private:
  enum class Io : unsigned char { done, again, eof, error };
  enum class Wait : unsigned char { none, read, write };
  /// What drive() does after a step: run the next state, or return to the event loop.
  enum class Next : unsigned char { go_on, stop };

  // Buffers and handlers (connection.cpp).
  void borrow_output();
  void return_output() noexcept;
  void return_read_buffer() noexcept;
  bool grow_read_buffer(std::size_t at_least);
  bool has_output() const noexcept { return out_ != nullptr && !out_->empty(); }
  /// Gives the reply list back once nothing is queued or held in it.
  void return_output_if_idle() noexcept {
    if (out_ != nullptr && out_->idle()) return_output();
  }
  void touch_active() noexcept;
  /// The coarse monotonic clock (steady_clock's base, a few ms behind, read from the vDSO).
  static std::chrono::steady_clock::time_point coarse_now() noexcept;
  /// Keeps the first reason the connection is closing for (on_close, the close log line).
  void set_close_reason(boost::system::error_code reason) noexcept {
    if (!close_reason_) close_reason_ = reason;
  }
  /// Negotiating: makes handler_ the text or binary handler, made now if this struct has
  /// none of that kind yet. False (counted in malloc_fails) if the factory failed.
  bool choose_handler(bool binary);

  // The state machine (drive_machine.cpp): one step per state.
  void drive();
  void set_state(ConnState next);
  Next step_new_cmd();
  Next step_waiting();
  Next step_read();
  bool begin_datagram();  // false: the datagram is dropped
  void drop_datagram_request();
  Next step_negotiate();  // parse_cmd without a handler yet
  Next step_nread();
  Next step_nread_into();
  Next step_swallow();
  Next step_write();
  Next step_closing();
  Next after_body_read(Io r);
  // Handler calls and results.
  void open_handler();
  template <class Call>
  Action guarded(Call&& call);
  void apply(const Action& action);
  ConnState state_for(const Action& action);
  void take_transition(const Action& action, ConnState proposed);
  void need_more_input();
  void deliver_body();
  // Waits and resumption.
  void flush_then(ConnState after);
  bool wait_for_body();
  void start_wait(Wait what);
  void yield();
  void on_wait_done(const boost::system::error_code& ec);
  void resume(const boost::system::error_code& ec);
  void finish_write();
  void cancel_deferred() noexcept;
  bool start_linger();
  void close_now();

  // Socket I/O (connection_io.cpp).
  Io read_into(std::span<char> dest, std::size_t& got);
  Io read_more();
  Io transmit();
  Io transmit_datagrams();
  ssize_t receive_datagram(std::span<char> dest);
  bool ring_send();
  // What a send's result (bytes, or -errno) does to the reply list; nullopt: send more.
  std::optional<Io> account_send(ssize_t result, std::size_t batch);

  Connection facade_{*this};
  Worker& worker_;
  int fd_ = -1;  // registered with the worker's Poller while open
  // The handlers this struct made, by kind: [0] by ListenerOptions::handler, [1] by
  // binary_handler. A pinned struct has its one from the start; a negotiating struct makes
  // each the first time a first byte asks for it, then keeps it for later clients.
  std::unique_ptr<ProtocolHandler> handlers_[2];
  ProtocolHandler* handler_ = nullptr;  // the chosen one; negotiating: null until the first byte
  std::unique_ptr<DatagramPeer> dgram_;  // UDP only
  ReadBuffer rbuf_;
  ReplyList* out_ = nullptr;  // lent from the worker while replies are queued (or held)
  DeferredRecord* deferred_head_ = nullptr;  // outstanding deferred replies, newest first
  std::size_t deferred_count_ = 0;
  HandlerSlot slot_;
  // Written by the worker, read by Server::connections() from any thread: relaxed atomics
  // (plain moves on x86), as memcached's `stats conns` reads its table unlocked.
  std::atomic<std::chrono::steady_clock::rep> last_active_{0};
  std::atomic<int> fd_number_{-1};
  std::atomic<std::uint64_t> id_{0};
  boost::system::error_code close_reason_;

  // nread / swallow progress
  char* body_dest_ = nullptr;  // read_body_into destination, else nullptr
  std::size_t body_size_ = 0;
  std::size_t body_done_ = 0;
  std::size_t ring_batch_ = 0;  // bytes of the send queued in the worker's ring
  // When the pending write wait began (only with write_stall_timeout): progress re-arms it.
  std::chrono::steady_clock::time_point write_wait_since_{};

  unsigned listener_;
  unsigned max_deferred_;  // the listener's
  bool negotiates_;        // the listener's
  bool authenticated_ = true;  // false from open() on a require_auth listener until record_auth(true)
  unsigned requests_in_event_ = 0;
  std::atomic<ConnState> state_{ConnState::closing};
  ConnState after_write_ = ConnState::new_cmd;
  Closing closing_ = Closing::no;
  bool incomplete_ = false;      // the handler said need_more for what is buffered
  bool op_pending_ = false;      // a readiness wait, a post or a ring send is outstanding
  bool busy_ = false;            // in drive() or on_open(): a deferred reply only fills its hold
  Wait poll_wait_ = Wait::none;  // the readiness the worker's Poller will wake us for
  // Edge-triggered readiness: set by the Poller, cleared once a read or write proves the
  // socket drained or full. While set, no new edge may come, so the state machine tries
  // the system call instead of waiting.
  bool in_ready_ = true;
  bool out_ready_ = true;
};

}  // namespace connkit::detail
