#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <connkit/conn_state.hpp>
#include <connkit/options.hpp>
#include <connkit/stats.hpp>

namespace connkit {

namespace detail {
class ServerImpl;
}

/// One open connection or listening socket (memcached's `stats conns` rows).
struct ConnectionInfo {
  std::uint64_t id = 0;                  ///< the connection's id (Connection::id()); 0 for listeners
  int fd = -1;                           ///< the socket's descriptor
  unsigned worker = 0;                   ///< serving worker (0 for listening sockets)
  ConnState state = ConnState::listening;  ///< listening for listeners
  /// tcp or unix_stream; udp for a worker's descriptor of a UDP socket (one row per worker,
  /// as memcached lists them; its state is read while it waits for a datagram).
  Transport transport = Transport::tcp;
  std::string address;                   ///< peer ("tcp:127.0.0.1:5000", "unix:/path"); local for listeners and UDP ("udp:127.0.0.1:11211")
  std::string listen_address;            ///< local end of an accepted connection; empty for listeners and UDP
  std::chrono::seconds idle{0};          ///< since input last arrived (0 for listeners)
};

/// A memcached-style connection server: listeners, a pool of connections per worker, and
/// the protocol state machine that drives them. Two ways to run:
///  - owned threads: `Server s(opts); s.start(); ... s.stop(); s.join();`
///  - on the host's io_context, with no threads of its own:
///    `Server s(io, opts); s.start(); io.run();` — stop() makes run() return once the
///    connections are drained (if the host has no other work). Destroy the Server only
///    after that, and before the io_context.
class Server {
 public:
  /// A server that runs options.threads worker threads of its own after start().
  explicit Server(ServerOptions options);
  /// A server with one worker that runs on `host` (the host calls run()).
  Server(boost::asio::io_context& host, ServerOptions options);
  /// Stops (as stop()) and waits for owned threads.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Validates options, binds every listener and starts accepting.
  /// @throws boost::system::system_error naming the listener, e.g. "bind 127.0.0.1:11211".
  void start();
  /// As start(), reporting failure through `ec` instead of throwing.
  void start(boost::system::error_code& ec);

  /// Graceful stop: stop accepting, close idle connections, let queued replies flush until
  /// stop_timeout, then close the rest. Returns at once. Thread-safe; idempotent.
  void stop() noexcept;
  /// Owned threads: blocks until every thread has finished. Host mode: returns at once.
  void join();
  /// True once every connection is closed after stop().
  bool stopped() const noexcept;

  /// The port listener `index` is bound to (useful with port 0); 0 for UNIX sockets.
  std::uint16_t port(std::size_t index = 0) const;
  /// Counters summed over workers, plus each worker's. Thread-safe, lock-free.
  ServerStats stats() const;
  /// Every listening socket and open connection. Thread-safe: takes each worker's connection
  /// list lock (held only at open and close), reads states without stopping anyone, and asks
  /// the kernel for addresses; a connection closing meanwhile may show "?".
  std::vector<ConnectionInfo> connections() const;
  /// Closes connection `id` (ConnectionInfo::id, Connection::id()) at once, dropping its
  /// queued replies and cancelling its deferred ones; counted in closed_by_server.
  /// Thread-safe and asynchronous: returns before the close; an id that is not open (any
  /// more) is ignored.
  void close_connection(std::uint64_t id);
  /// The options the server was built with.
  const ServerOptions& options() const noexcept;
  /// The verbosity log lines are filtered by now: ServerOptions::verbosity until changed.
  /// Thread-safe.
  int verbosity() const noexcept;
  /// Changes the verbosity for every worker and listener (memcached's `verbosity` command;
  /// handlers reach it as Connection::set_verbosity()). Thread-safe; takes effect at once.
  void set_verbosity(int level) noexcept;

 private:
  std::unique_ptr<detail::ServerImpl> impl_;
};

}  // namespace connkit
