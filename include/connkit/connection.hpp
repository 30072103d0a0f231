#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include <connkit/conn_state.hpp>
#include <connkit/deferred_reply.hpp>
#include <connkit/options.hpp>
#include <connkit/protocol_handler.hpp>
#include <connkit/reply_list.hpp>

namespace connkit {

namespace detail {
class ConnectionEngine;
}

/// One client connection, as a protocol handler sees it. Connections are pooled per worker
/// and never move in memory; a handler may keep a `Connection&` only for the duration of a
/// callback. Not thread-safe: every member is used on the connection's worker thread,
/// except state() and last_active().
class Connection {
 public:
  /// Made by the library, one per pooled connection; applications never construct one.
  explicit Connection(detail::ConnectionEngine& engine) noexcept : engine_(&engine) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Queues a copy of `bytes` (small formatted replies).
  void reply(std::string_view bytes);
  /// Queues `bytes` without copying; `owner.release` runs once they are sent or dropped.
  void reply_ref(std::span<const char> bytes, BufferOwner owner = {});
  /// At least `n` writable bytes to format a reply in place; then call commit_reply().
  std::span<char> reply_space(std::size_t n);
  /// Queues the first `n` bytes written into reply_space().
  void commit_reply(std::size_t n);
  /// Reply bytes queued and not yet sent.
  std::size_t pending_output() const noexcept;

  /// Reserves the current request's place in the reply order, for a reply given later
  /// through the returned handle (from any thread); return Action::defer(n) for the
  /// request. May be called several times in one request (a multi-get with several
  /// misses): each handle fills its own place, between the replies queued around it.
  DeferredReply defer();
  /// DeferredReply handles of this connection not completed yet.
  std::size_t deferred() const noexcept;
  /// The executor of this connection's worker: timers and sockets made with it run their
  /// completion handlers on this connection's thread, where a handle completes without a
  /// cross-thread hop and Connection calls are allowed (if the connection is still open:
  /// check id()).
  boost::asio::io_context::executor_type executor() const noexcept;
  /// This client's id, unique within the Server for its lifetime (a pooled struct reused
  /// for a new client gets a new id); Server::connections() shows it and
  /// Server::close_connection() takes it.
  std::uint64_t id() const noexcept;
  /// In on_open(): turn this client away. `reply` (if any) is sent first, then the
  /// connection closes; counted in refused_connections. Elsewhere: close after the
  /// current callback, sending what is queued and then `reply`. The reason is
  /// errc::refused in both cases. Ignored for UDP and on a connection already closing.
  void refuse(std::string_view reply = {});

  /// The current state. Readable from any thread (Server::connections()).
  ConnState state() const noexcept;
  /// The socket's file descriptor (memcached's `sfd`, used in log lines).
  int native_handle() const noexcept;
  /// The transport of the listener this connection came from.
  Transport transport() const noexcept;
  /// Index of the listener (in ServerOptions::listeners) this connection came from.
  unsigned listener_index() const noexcept;
  /// Index of the worker serving this connection.
  unsigned worker_index() const noexcept;
  /// The peer's address as text ("127.0.0.1:5000", "[::1]:5000", "unix"); for UDP, the
  /// sender of the datagram being handled. Makes a system call: not for the hot path.
  std::string peer_address();
  /// When input last arrived. Readable from any thread.
  std::chrono::steady_clock::time_point last_active() const noexcept;
  /// The server's verbosity (0-3): ServerOptions::verbosity until changed.
  int verbosity() const noexcept;
  /// Sets the server's verbosity, for every connection (memcached's `verbosity` command).
  void set_verbosity(int level) noexcept;
  /// Writes a line to the server's log sink if `level` <= verbosity().
  void log(int level, std::string_view line) const;
  /// Whether this client may be served: always on a listener without
  /// ListenerOptions::require_auth; there, once record_auth(true) was called for it.
  bool authenticated() const noexcept;
  /// The outcome of one authentication attempt, which becomes authenticated(): counted in
  /// auth_cmds, and a failure in auth_errors too (memcached's counters).
  void record_auth(bool ok) noexcept;
  /// This connection's protocol handler: on a negotiating listener, the one its first byte
  /// chose (the one whose callback is running).
  ProtocolHandler& handler() noexcept;

 private:
  detail::ConnectionEngine* engine_;  // lib/connection_engine.hpp: everything else
};

}  // namespace connkit
