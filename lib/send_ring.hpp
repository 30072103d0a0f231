#pragma once

#include <cstddef>
#include <memory>

struct io_uring;  // liburing's, seen only by send_ring.cpp

namespace connkit::detail {

/// The replies of one wake-up, sent with one system call: a worker's Poller queues each
/// connection's single-buffer reply here while it delivers readiness, then submits them
/// all with one io_uring_enter. Each send carries MSG_DONTWAIT, so it completes (or fails
/// with EAGAIN) inside that call: results come back at once, exactly as send() would have
/// returned them, and nothing is in flight once complete() returns. A batch of one reply
/// is sent with send() itself: the same one system call, without the ring's overhead.
///
/// Why: a system call costs ~1.1 us on virtual machines like the one the benchmarks run on
/// (docs/performance.md), as much as the rest of a small request's server-side work, and
/// a get costs memcached two of them (read, sendmsg). Unavailable (a kernel without io_uring,
/// a seccomp filter refusing it, a build without liburing, or ServerOptions::io_uring off),
/// every reply goes out with send() as before.
class SendRing {
 public:
  SendRing() = default;
  ~SendRing();
  SendRing(const SendRing&) = delete;
  SendRing& operator=(const SendRing&) = delete;

  /// Sets up a ring of `entries` sends, on the thread that will use it (the ring accepts
  /// one submitting thread); it stays unavailable if the kernel refuses.
  void open(unsigned entries);
  bool available() const noexcept { return available_; }
  /// Queues send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT) for `token`; false if the
  /// ring is unavailable or full (send it yourself, then).
  bool queue(int fd, const void* data, std::size_t size, void* token) noexcept;
  std::size_t queued() const noexcept { return queued_; }

  /// Submits what is queued and calls done(token, result) for each send, in order: bytes
  /// sent, or -errno. -ECANCELED means it was not attempted (the ring failed and is now
  /// unavailable): send it yourself. -EIO: the ring failed after submitting it. `done` may queue further sends (for a later call).
  template <class F>
  void complete(F&& done);

 private:
  static constexpr std::size_t max_entries = 256;

  // Submits and collects results into results_; returns how many.
  std::size_t submit_and_collect() noexcept;

  struct Result {
    void* token;
    int value;
  };

  struct RingDeleter {
    void operator()(io_uring* ring) const noexcept;
  };
  std::unique_ptr<io_uring, RingDeleter> ring_;
  bool available_ = false;
  std::size_t queued_ = 0;
  std::size_t capacity_ = 0;
  struct Send {
    int fd;
    const void* data;
    std::size_t size;
    void* token;
  };
  Send sends_[max_entries];
  Result results_[max_entries];
};

template <class F>
void SendRing::complete(F&& done) {
  const std::size_t n = submit_and_collect();
  for (std::size_t i = 0; i < n; ++i) done(results_[i].token, results_[i].value);
}

}  // namespace connkit::detail
