#include "send_ring.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>

#include <sys/socket.h>

#if defined(CONNKIT_HAVE_IO_URING)
#include <liburing.h>
#endif

namespace connkit::detail {

#if defined(CONNKIT_HAVE_IO_URING)

void SendRing::open(unsigned entries) {
  if (ring_) return;
  capacity_ = std::min<std::size_t>(entries, max_entries);
  auto ring = std::make_unique<io_uring>();
  io_uring_params params{};
  // One thread submits and reaps (the worker's); completions need no task work.
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(static_cast<unsigned>(capacity_), ring.get(), &params) != 0) {
    params = io_uring_params{};  // a kernel before 6.1 refuses those flags
    if (io_uring_queue_init_params(static_cast<unsigned>(capacity_), ring.get(), &params) != 0) return;
  }
  ring_.reset(ring.release());
  available_ = true;
}

SendRing::~SendRing() = default;

void SendRing::RingDeleter::operator()(io_uring* ring) const noexcept {
  io_uring_queue_exit(ring);
  delete ring;
}

bool SendRing::queue(int fd, const void* data, std::size_t size, void* token) noexcept {
  if (!available_ || queued_ == capacity_) return false;
  sends_[queued_++] = Send{fd, data, size, token};
  return true;
}

std::size_t SendRing::submit_and_collect() noexcept {
  const std::size_t n = queued_;
  queued_ = 0;
  if (n == 0) return 0;
  if (n == 1) {
    // One reply in the batch (a single active connection): send() is one system call as
    // well, and cheaper than a ring round trip.
    const Send& s = sends_[0];
    ssize_t sent;
    do {
      sent = ::send(s.fd, s.data, s.size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    results_[0] = Result{s.token, sent >= 0 ? static_cast<int>(std::min<ssize_t>(sent, INT_MAX)) : -errno};
    return 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());  // never null: at most capacity_ queued
    io_uring_prep_send(sqe, sends_[i].fd, sends_[i].data, sends_[i].size, MSG_NOSIGNAL | MSG_DONTWAIT);
    io_uring_sqe_set_data(sqe, sends_[i].token);
  }
  int ret;
  do {
    ret = io_uring_submit_and_wait(ring_.get(), static_cast<unsigned>(n));
  } while (ret == -EINTR);
  // Sends are consumed from the queue in order: sends_[0, submitted) went to the kernel.
  const std::size_t submitted = ret > 0 ? std::min(static_cast<std::size_t>(ret), n) : 0;
  std::size_t done = 0;
  while (done < submitted) {
    // Every submitted send posts one completion; MSG_DONTWAIT means none waits for room.
    io_uring_cqe* cqes[max_entries];
    unsigned got = io_uring_peek_batch_cqe(ring_.get(), cqes, static_cast<unsigned>(submitted - done));
    if (got == 0) {
      if (io_uring_wait_cqe(ring_.get(), &cqes[0]) != 0) break;
      got = 1;
    }
    for (unsigned i = 0; i < got; ++i) results_[done++] = Result{io_uring_cqe_get_data(cqes[i]), cqes[i]->res};
    io_uring_cq_advance(ring_.get(), got);
  }
  if (done < n) {
    // The ring failed; it is not entered again. A send never submitted is the caller's to
    // send (-ECANCELED); one submitted without a result may have gone out, so its
    // connection cannot know what the peer got (-EIO closes it).
    available_ = false;
    for (std::size_t i = 0; i < n; ++i) {
      bool reported = false;
      for (std::size_t j = 0; j < done && !reported; ++j) reported = results_[j].token == sends_[i].token;
      if (!reported) results_[done++] = Result{sends_[i].token, i < submitted ? -EIO : -ECANCELED};
    }
  }
  return done;
}

#else

void SendRing::open(unsigned) {}
SendRing::~SendRing() = default;
void SendRing::RingDeleter::operator()(io_uring*) const noexcept {}
bool SendRing::queue(int, const void*, std::size_t, void*) noexcept { return false; }
std::size_t SendRing::submit_and_collect() noexcept { return 0; }

#endif

}  // namespace connkit::detail
