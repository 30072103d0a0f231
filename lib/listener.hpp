#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <atomic>
#include <chrono>
#include <cstdint>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <connkit/options.hpp>

#include "counters.hpp"

namespace connkit::detail {

class ServerImpl;
class Worker;

/// A bound listening socket of any transport; opened by Server::start() on the caller's
/// thread, then used only on the thread of the io_context it was made with.
class ListenSocket {
 public:
  /// Binds (and for streams, listens). `port_override` replaces options.port when non-zero
  /// (SO_REUSEPORT siblings bind the port the first one got).
  static int open(const ListenerOptions& options, std::uint16_t port_override,
                  boost::system::error_code& ec, std::uint16_t& bound_port);
};

/// Accepts on one stream listening socket (memcached's conn_listening state) and hands each
/// client to a worker: round-robin over all workers, or to `own_worker` (SO_REUSEPORT).
class Acceptor {
 public:
  Acceptor(ServerImpl& server, unsigned listener, boost::asio::io_context& io, int fd,
           Worker* own_worker, Counters& counters);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  /// Starts the accept loop. On the acceptor's thread.
  void start();
  /// Stops accepting and closes the socket (removing a UNIX socket's file). On the thread.
  void close();
  /// The worker this SO_REUSEPORT acceptor serves, or nullptr for a shared acceptor.
  Worker* own_worker() const noexcept { return own_worker_; }
  /// The listening descriptor, or -1 once closed. Any thread.
  int fd() const noexcept { return fd_.load(std::memory_order_relaxed); }
  /// True while accept is paused after EMFILE, ENFILE, ENOBUFS or ENOMEM.
  bool paused() const noexcept { return paused_.load(std::memory_order_relaxed); }

 private:
  void do_accept();
  void on_readable(const boost::system::error_code& ec);
  void pause();
  void handle(int fd);

  ServerImpl& server_;
  unsigned listener_;
  boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol> socket_;
  boost::asio::steady_timer backoff_timer_;
  Worker* own_worker_;
  Counters& counters_;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point paused_since_{};
  std::atomic<bool> paused_{false};
  std::atomic<int> fd_{-1};
};

}  // namespace connkit::detail
