#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <cstdint>
#include <optional>

#include <sys/epoll.h>
#include <sys/uio.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#include "handler_slot.hpp"

#include "send_ring.hpp"

namespace connkit::detail {

class ConnectionEngine;

/// Readiness of a worker's client sockets, as memcached gets it from libevent: every
/// socket stays registered, edge-triggered, for input and output in one epoll set per
/// worker, so waiting for the next request costs no system call.
///
/// Two ways to wait on the set:
/// - watched (a host's io_context): the set's descriptor is watched by the io_context, so
///   the host's run() drives everything. Each wake-up costs three system calls: the
///   io_context's epoll_wait, the set's epoll_wait, and Boost 1.74's EPOLL_CTL_MOD when
///   the watch is re-armed.
/// - loop (a worker thread of the server's own): the thread blocks in the set itself, one
///   epoll_wait per wake-up as in memcached. The io_context's reactor descriptor sits in the
///   set (level-triggered), so timers and Asio-managed descriptors still wake the thread;
///   handlers posted from other threads come with wake() (an eventfd). Connections' events
///   are delivered outside the io_context's run(), where Asio queues what completes at
///   once (a post, a cancelled timer) without waking anybody: code on that path that
///   touches the io_context calls note_post(), and the loop runs the io_context's ready
///   handlers (io_context::poll) before it blocks again. Asio has no public accessor for
///   its reactor's descriptor: asio_reactor.hpp reads it only where the Asio version and
///   backend are known (compile time), and the constructor checks that a due timer wakes
///   the set (run time); anything else falls back to the watched mode.
///
/// Replies made while readiness is delivered go out together at the end of the batch,
/// through one io_uring_enter (SendRing), when the ring is available.
///
/// Why not an Asio wait per socket: Boost 1.74's epoll reactor re-arms a descriptor with
/// epoll_ctl(EPOLL_CTL_MOD) on every async_wait, one extra system call per request, and
/// keeps ~270 bytes of reactor state per socket (docs/performance.md has the measurements).
class Poller {
 public:
  /// Creates the epoll set; `loop` asks for the loop mode (run() then drives the thread),
  /// which is taken only where Asio's reactor can share the set and a start-up check shows
  /// that a due timer wakes it (`fail_self_test` makes that check fail, for tests); else
  /// the watched mode. `ring` lets replies go out through a SendRing. Call before the
  /// io_context runs anywhere. Throws boost::system::system_error if the kernel refuses the set.
  Poller(boost::asio::io_context& io, bool loop, bool ring, bool fail_self_test = false);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  /// Registers `fd` for `c` (input and output, edge-triggered).
  void add(int fd, ConnectionEngine& c, boost::system::error_code& ec) noexcept;
  /// Unregisters `fd`; call before closing it.
  void remove(int fd) noexcept;
  /// Registers an eventfd: `fn(context)` runs on the worker when it becomes readable (and
  /// must read it). One per Poller. Throws boost::system::system_error.
  void add_notifier(int fd, void (*fn)(void* context) noexcept, void* context);
  /// Starts delivering readiness (watched mode: arms the io_context's watch). On the
  /// thread that delivers it: the ring is set up here.
  void start();
  /// Stops delivering readiness; in watched mode the outstanding watch ends, so an
  /// io_context with nothing else to do can return from run().
  void stop() noexcept;

  /// Loop mode: runs the calling thread until the io_context stops (runs out of work).
  void run();
  /// Loop mode, any thread: call after posting to the io_context, so the loop runs it.
  void wake() noexcept;
  /// Loop mode, the worker's thread: a handler was posted there (the loop runs it after
  /// the current batch). Harmless in watched mode.
  void note_post() noexcept { asio_due_ = true; }
  bool loop_mode() const noexcept { return loop_; }

  /// While readiness is being delivered: queues `c`'s one-buffer reply `bytes` on `fd` to go
  /// out with the others of this wake-up; c.on_sent() follows before delivery ends.
  /// False if it cannot be (outside delivery, no ring, the ring full).
  bool defer_send(int fd, const iovec& bytes, ConnectionEngine* c) noexcept;

 private:
  bool reactor_wakes_set();
  void arm();
  void dispatch();
  void deliver(const epoll_event* events, int n);
  void flush_sends();

  boost::asio::io_context& io_;
  int fd_;
  bool loop_;
  bool use_ring_;
  int wake_fd_ = -1;                                           // loop mode: eventfd
  void (*notify_)(void*) noexcept = nullptr;                    // add_notifier
  void* notify_context_ = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> watch_;  // watched mode: owns fd_
  WaitSlot slot_;
  SendRing ring_;
  bool delivering_ = false;
  bool running_ = false;
  bool armed_ = false;
  bool asio_due_ = false;  // loop mode: the io_context has handlers to run
};

}  // namespace connkit::detail
