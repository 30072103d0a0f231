// A connection's socket reads and sends. Nothing here changes the ConnState: each call says
// what happened (Io) and the state machine (drive_machine.cpp) decides.

#include "connection_engine.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>

#include <sys/socket.h>

#include <connkit/error.hpp>

#include "datagram_peer.hpp"
#include "worker.hpp"

namespace connkit::detail {
namespace {

// One sendmsg() gathers at most this many iovecs (Linux IOV_MAX is 1024).
constexpr std::size_t max_iov = IOV_MAX;

boost::system::error_code errno_code(int err) noexcept { return {err, boost::system::system_category()}; }

}  // namespace

ConnectionEngine::Io ConnectionEngine::read_more() {
  if (!rbuf_.has_storage()) {
    char* storage = worker_.read_buffers().allocate(worker_.read_buffers().buffer_size());
    if (storage == nullptr) {
      set_close_reason(make_error_code(boost::system::errc::not_enough_memory));
      return Io::error;
    }
    rbuf_.attach(storage, worker_.read_buffers().buffer_size());
  }
  if (rbuf_.free_space().size() < rbuf_.capacity() / 2) rbuf_.compact();
  std::size_t got = 0;
  const Io r = read_into(rbuf_.free_space(), got);
  if (r == Io::done) rbuf_.commit(got);
  return r;
}

ConnectionEngine::Io ConnectionEngine::read_into(std::span<char> dest, std::size_t& got) {
  if (dest.empty()) {
    set_close_reason(make_error_code(errc::bad_action));
    return Io::error;
  }
  for (;;) {
    ssize_t n;
    if (dgram_ != nullptr) {
      dgram_->length = sizeof dgram_->address;
      n = ::recvfrom(fd_, dest.data(), dest.size(), MSG_DONTWAIT,
                     reinterpret_cast<sockaddr*>(&dgram_->address), &dgram_->length);
    } else {
      n = ::recv(fd_, dest.data(), dest.size(), MSG_DONTWAIT);
    }
    if (n > 0) {
      got = static_cast<std::size_t>(n);
      // A short read from a stream socket took everything queued (TCP and UNIX stream
      // receive loops stop early only at a TCP urgent mark, and a client sending urgent
      // data stalls only itself): data arriving after it raises a new edge. A datagram
      // socket may hold more datagrams whatever the size.
      if (dgram_ == nullptr && got < dest.size()) in_ready_ = false;
      worker_.counters()[&ConnectionStats::bytes_read].add(got);
      if (closing_ != Closing::lingering) touch_active();
      return Io::done;
    }
    if (n == 0) {
      if (dgram_ != nullptr) return Io::again;  // an empty datagram: nothing to do
      set_close_reason(make_error_code(errc::peer_closed));
      return Io::eof;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      in_ready_ = false;
      return Io::again;
    }
    if (dgram_ != nullptr) return Io::again;  // e.g. ECONNREFUSED from an earlier reply: not fatal
    set_close_reason(errno_code(err));
    return Io::error;
  }
}

bool ConnectionEngine::ring_send() {
  // Only a one-buffer reply of a stream socket goes through the ring (SendRing sends one
  // buffer per entry); the Poller says whether this wake-up is batching at all.
  if (!out_ready_ || dgram_ != nullptr || out_->segment_count() != 1) return false;
  iovec iov;
  if (out_->gather(std::span<iovec>(&iov, 1)) != 1) return false;
  ring_batch_ = iov.iov_len;  // a deferred reply may add to the list before on_sent()
  return worker_.poller().defer_send(fd_, iov, this);
}

ConnectionEngine::Io ConnectionEngine::transmit() {
  // memcached's transmit(): one sendmsg() per batch of up to IOV_MAX iovecs, resuming
  // partial writes at the exact byte.
  iovec iov[max_iov];
  for (;;) {
    const std::size_t count = out_->gather(std::span<iovec>(iov, max_iov));
    std::size_t batch = 0;
    for (std::size_t i = 0; i < count; ++i) batch += iov[i].iov_len;
    ssize_t n;
    if (count == 1 && dgram_ == nullptr) {
      n = ::send(fd_, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);  // no iovec array to import
    } else {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = count;
      if (dgram_ != nullptr) {
        msg.msg_name = &dgram_->address;
        msg.msg_namelen = dgram_->length;
      }
      n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    if (const std::optional<Io> r = account_send(n >= 0 ? n : -errno, batch)) return *r;
  }
}

std::optional<ConnectionEngine::Io> ConnectionEngine::account_send(ssize_t result, std::size_t batch) {
  if (result >= 0) {
    const auto sent = static_cast<std::size_t>(result);
    worker_.counters()[&ConnectionStats::bytes_written].add(sent);
    out_->consume(sent);
    if (out_->empty()) return Io::done;
    if (sent < batch) {  // the socket buffer is full: wait for room
      out_ready_ = false;
      return Io::again;
    }
    return std::nullopt;  // a full IOV_MAX window went out: send the next
  }
  const auto err = static_cast<int>(-result);
  if (err == EINTR) return std::nullopt;
  if (err == EAGAIN || err == EWOULDBLOCK) {
    out_ready_ = false;
    return Io::again;
  }
  if (dgram_ != nullptr) {
    out_->clear();  // an undeliverable datagram is dropped; the listener goes on
    return Io::done;
  }
  set_close_reason(errno_code(err));
  return Io::error;
}

}  // namespace connkit::detail
