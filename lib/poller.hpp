#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <cstdint>

#include <sys/epoll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#include <connkit/detail/handler_slot.hpp>

namespace connkit {
class Connection;
}

namespace connkit::detail {

/// Readiness of a worker's client sockets, as memcached gets it from libevent: every
/// socket stays registered, edge-triggered, for input and output in one epoll set per
/// worker, so waiting for the next request costs no system call. The set's own descriptor
/// is watched by the worker's io_context, so timers, posts and acceptors run as before.
///
/// Why not an Asio wait per socket: Boost 1.74's epoll reactor re-arms a descriptor with
/// epoll_ctl(EPOLL_CTL_MOD) on every async_wait, one extra system call per request, and
/// keeps ~270 bytes of reactor state per socket (docs/performance.md has the measurements).
class Poller {
 public:
  /// Creates the epoll set; throws boost::system::system_error if the kernel refuses.
  explicit Poller(boost::asio::io_context& io);
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  /// Registers `fd` for `c` (input and output, edge-triggered).
  void add(int fd, Connection& c, boost::system::error_code& ec) noexcept;
  /// Unregisters `fd`; call before closing it.
  void remove(int fd) noexcept;
  /// Starts watching the set on the io_context.
  void start();
  /// Stops watching: the outstanding wait ends, so an io_context with nothing else to do
  /// can return from run().
  void stop() noexcept;

 private:
  void arm();
  void dispatch();

  boost::asio::posix::stream_descriptor set_;
  WaitSlot slot_;
  bool running_ = false;
  bool armed_ = false;
};

}  // namespace connkit::detail
