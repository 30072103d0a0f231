#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded

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

#include <boost/system/error_code.hpp>

#include <connkit/conn_state.hpp>
#include <connkit/detail/handler_slot.hpp>
#include <connkit/options.hpp>
#include <connkit/protocol_handler.hpp>
#include <connkit/read_buffer.hpp>
#include <connkit/reply_list.hpp>

namespace connkit {

namespace detail {
class Worker;
class Poller;
struct DatagramPeer;
}  // namespace detail

/// One client connection, as a protocol handler sees it. Connections are pooled per worker
/// and never move in memory; a handler may keep a `Connection&` only for the duration of a
/// callback. Not thread-safe: every member is used on the connection's worker thread.
class Connection {
 public:
  /// Made by the worker's pool; applications never construct one.
  Connection(detail::Worker& worker, unsigned listener, std::unique_ptr<ProtocolHandler> handler);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Queues a copy of `bytes` (small formatted replies).
  void reply(std::string_view bytes) { output().append_copy(bytes); }
  /// Queues `bytes` without copying; `owner.release` runs once they are sent or dropped.
  void reply_ref(std::span<const char> bytes, BufferOwner owner = {}) { output().append_ref(bytes, owner); }
  /// At least `n` writable bytes to format a reply in place; then call commit_reply().
  std::span<char> reply_space(std::size_t n) { return output().prepare(n); }
  /// Queues the first `n` bytes written into reply_space().
  void commit_reply(std::size_t n) { output().commit(n); }
  /// Reply bytes queued and not yet sent.
  std::size_t pending_output() const noexcept { return out_ ? out_->pending_bytes() : 0; }

  /// The current state. Readable from any thread (Server::connections()).
  ConnState state() const noexcept { return state_.load(std::memory_order_relaxed); }
  /// The socket's file descriptor (memcached's `sfd`, used in log lines).
  int native_handle() const noexcept { return fd_; }
  /// The transport of the listener this connection came from.
  Transport transport() const noexcept;
  /// Index of the listener (in ServerOptions::listeners) this connection came from.
  unsigned listener_index() const noexcept { return listener_; }
  /// Index of the worker serving this connection.
  unsigned worker_index() const noexcept;
  /// The peer's address as text ("127.0.0.1:5000", "[::1]:5000", "unix"); for UDP, the
  /// sender of the datagram being handled. Makes a system call: not for the hot path.
  std::string peer_address();
  /// When input last arrived. Readable from any thread.
  std::chrono::steady_clock::time_point last_active() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_active_.load(std::memory_order_relaxed)));
  }
  /// The server's verbosity (0-3): ServerOptions::verbosity until changed.
  int verbosity() const noexcept;
  /// Sets the server's verbosity, for every connection (memcached's `verbosity` command).
  void set_verbosity(int level) noexcept;
  /// Writes a line to the server's log sink if `level` <= verbosity().
  void log(int level, std::string_view line) const;
  /// This connection's protocol handler.
  ProtocolHandler& handler() noexcept { return *handler_; }

 private:
  friend class detail::Worker;
  friend class detail::Poller;
  enum class Io : unsigned char { done, again, eof, error };
  enum class Wait : unsigned char { none, read, write };

  ReplyList& output() {
    if (out_ == nullptr) borrow_output();
    return *out_;
  }
  void borrow_output();
  void return_output() noexcept;
  void return_read_buffer() noexcept;
  bool has_output() const noexcept { return out_ != nullptr && !out_->empty(); }
  bool is_datagram() const noexcept { return dgram_ != nullptr; }

  // Lifecycle, driven by the worker.
  void make_datagram();
  void open(int fd);
  void kick(boost::system::error_code reason, bool flush_first);
  bool waiting_for_input() const noexcept;

  // The state machine (drive_machine.cpp).
  void drive();
  void set_state(ConnState next);
  void apply(const Action& action);
  template <class Call>
  Action guarded(Call&& call);
  void need_more_input();
  void flush_then(ConnState after);
  bool wait_for_body();
  void start_wait(Wait what);
  void on_poll(std::uint32_t events);
  void on_wait_done(const boost::system::error_code& ec);
  void on_sent(int result);  // a reply the Poller sent for us: bytes, or -errno
  void resume(const boost::system::error_code& ec);
  void finish_write();
  void yield();
  void close_now();
  bool start_linger();
  Io read_into(std::span<char> dest, std::size_t& got);
  Io read_more();
  Io transmit();
  // What a send's result (bytes, or -errno) does to the reply list; nullopt: send more.
  std::optional<Io> account_send(ssize_t result, std::size_t batch);
  bool grow_read_buffer(std::size_t at_least);
  void deliver_body();

  detail::Worker& worker_;
  int fd_ = -1;  // registered with the worker's Poller while open
  std::unique_ptr<ProtocolHandler> handler_;
  std::unique_ptr<detail::DatagramPeer> dgram_;  // UDP only
  ReadBuffer rbuf_;
  ReplyList* out_ = nullptr;  // lent from the worker while replies are queued
  detail::HandlerSlot slot_;

  Connection* prev_ = nullptr;  // the worker's list of open connections
  Connection* next_ = nullptr;
  // Once per read: the coarse clock (same base as steady_clock, a few ms behind) reads the
  // vDSO's last tick instead of the TSC.
  void touch_active() noexcept;
  // Written by the worker, read by Server::connections() from any thread: relaxed atomics
  // (plain moves on x86), as memcached's `stats conns` reads its table unlocked.
  std::atomic<std::chrono::steady_clock::rep> last_active_{0};
  std::atomic<int> fd_number_{-1};
  boost::system::error_code close_reason_;

  // nread / swallow progress
  char* body_dest_ = nullptr;  // read_body_into destination, else nullptr
  std::size_t body_size_ = 0;
  std::size_t body_done_ = 0;

  unsigned listener_;
  unsigned requests_in_event_ = 0;
  std::atomic<ConnState> state_{ConnState::closing};
  ConnState after_write_ = ConnState::new_cmd;
  bool incomplete_ = false;     // the handler said need_more for what is buffered
  bool op_pending_ = false;     // a readiness wait or a post is outstanding
  Wait poll_wait_ = Wait::none;  // the readiness the worker's Poller will wake us for
  // Edge-triggered readiness: set by the Poller, cleared once a read or write proves the
  // socket drained or full. While set, no new edge may come, so the state machine tries
  // the system call instead of waiting.
  bool in_ready_ = true;
  bool out_ready_ = true;
  bool kicked_ = false;         // close requested while an operation was pending
  bool flush_on_kick_ = false;  // ... and queued replies should still be sent
  bool linger_ = false;         // closing after a flush: shut down writes, drain input first
  bool lingering_ = false;      // in that drain (swallow until EOF)
};

}  // namespace connkit
