#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <connkit/options.hpp>
#include <connkit/server.hpp>

#include "buffer_cache.hpp"
#include "connection_engine.hpp"
#include "connection_pool.hpp"
#include "counters.hpp"
#include "deferred.hpp"
#include "log_line.hpp"
#include "poller.hpp"

namespace connkit::detail {

class ServerImpl;

/// One worker: an io_context run by one thread (or the host's), the connection pools of
/// every listener, buffer caches, and the list of open connections. Everything here is
/// used on that one thread only, so nothing takes a lock (memcached's LIBEVENT_THREAD).
class Worker {
 public:
  Worker(ServerImpl& server, unsigned index, boost::asio::io_context& io, bool owned_thread);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  boost::asio::io_context& io() noexcept { return io_; }
  unsigned index() const noexcept { return index_; }
  const ServerOptions& options() const noexcept { return options_; }
  Logger& logger() const noexcept { return logger_; }
  Counters& counters() noexcept { return counters_; }
  const Counters& counters() const noexcept { return counters_; }
  ServerImpl& server() noexcept { return server_; }
  bool draining() const noexcept { return draining_; }
  bool finished() const noexcept { return finished_; }

  /// Arms the idle sweep. On the worker's thread.
  void start();
  /// The owned thread's body: returns once the worker finished and nothing is left to do.
  void run();
  /// Posts `f` to the worker's io_context from any thread (an acceptor's hand-off, a stop).
  template <class F>
  void post(F&& f) {
    boost::asio::post(io_, std::forward<F>(f));
    poller_.wake();
  }
  /// Takes an accepted, non-blocking stream socket (memcached's dispatch_conn_new target).
  /// The acceptor already counted it as live. On the worker's thread. Returns the
  /// connection, or nullptr if it was refused (the socket is closed then).
  ConnectionEngine* adopt(int fd, unsigned listener);
  /// Takes this worker's copy of a bound UDP socket. On the worker's thread.
  void adopt_datagram(int fd, unsigned listener);
  /// Graceful stop: close idle connections, flush the rest until the deadline. On the thread.
  void begin_drain();
  /// A connection finished closing; back to its pool. Never allocates.
  void release(ConnectionEngine& c) noexcept;

  Poller& poller() noexcept { return poller_; }
  ReadBufferCache& read_buffers() noexcept { return read_buffers_; }
  ReplyListCache& reply_lists() noexcept { return reply_lists_; }
  DeferredQueue& deferred() noexcept { return deferred_; }

  /// Appends a row per open connection. Any thread.
  void list_connections(std::vector<ConnectionInfo>& out) const;

  /// Writes a line to the log sink if `level` <= verbosity.
  void log(int level, std::string_view line) const;

 private:
  void link(ConnectionEngine& c) noexcept;
  void unlink(ConnectionEngine& c) noexcept;
  void arm_sweep();
  void sweep();
  void maybe_finish();
  static void deliver_deferred(void* worker, DeferredRecord& r) noexcept;

  ServerImpl& server_;
  const ServerOptions& options_;
  Logger& logger_;  // the server's
  unsigned index_;
  boost::asio::io_context& io_;
  Counters counters_;
  Poller poller_;  // before the pools: outlives every connection
  DeferredQueue deferred_;  // likewise: connections hold its records
  ReadBufferCache read_buffers_;
  ReplyListCache reply_lists_;
  std::vector<std::unique_ptr<ConnectionPool>> pools_;  // one per listener
  std::vector<std::unique_ptr<ConnectionEngine>> datagram_conns_;
  mutable std::mutex list_mutex_;  // guards link/unlink against list_connections() readers
  ConnectionEngine* open_head_ = nullptr;
  std::size_t open_count_ = 0;
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer drain_timer_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  bool draining_ = false;
  bool finished_ = false;
};

}  // namespace connkit::detail
