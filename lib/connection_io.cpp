// A connection's socket reads and sends. Nothing here changes the ConnState: each call says
// what happened (Io) and the state machine (drive_machine.cpp) decides.

#include "connection_engine.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <netinet/in.h>

#include <sys/socket.h>

#include <connkit/error.hpp>

#include "datagram_peer.hpp"
#include "worker.hpp"

namespace connkit::detail {
namespace {

// One sendmsg() gathers at most this many iovecs (Linux IOV_MAX is 1024).
constexpr std::size_t max_iov = IOV_MAX;

// Holds any UDP datagram whole (memcached's UDP_READ_BUFFER_SIZE).
constexpr std::size_t datagram_buffer_size = 65536;

boost::system::error_code errno_code(int err) noexcept { return {err, boost::system::system_category()}; }

}  // namespace

ConnectionEngine::Io ConnectionEngine::read_more() {
  if (dgram_ != nullptr && rbuf_.capacity() < datagram_buffer_size) {
    // A UDP listener's connection reads each datagram whole into a buffer it keeps (out
    // of memory: the standard one, and larger datagrams are dropped as truncated).
    (void)grow_read_buffer(datagram_buffer_size);
  }
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
    const ssize_t n = dgram_ != nullptr ? receive_datagram(dest) : ::recv(fd_, dest.data(), dest.size(), MSG_DONTWAIT);
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

ssize_t ConnectionEngine::receive_datagram(std::span<char> dest) {
  DatagramPeer& d = *dgram_;
  iovec iov{dest.data(), dest.size()};
  alignas(cmsghdr) unsigned char control[DatagramPeer::control_capacity];
  msghdr msg{};
  msg.msg_name = &d.address;
  msg.msg_namelen = sizeof d.address;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
  if (n < 0) return n;
  d.length = msg.msg_namelen;
  if ((msg.msg_flags & MSG_TRUNC) != 0) return 0;  // larger than the buffer: dropped as empty
  // The address the datagram came to becomes the reply's source: on a host with several
  // addresses the kernel would otherwise pick one by route, and the client, which matches
  // replies by address, would drop the reply.
  d.control_length = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    cmsghdr* out = reinterpret_cast<cmsghdr*>(d.control);
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      in_pktinfo reply{};
      reply.ipi_spec_dst = got.ipi_addr;  // the source address; the route chooses the interface
      out->cmsg_level = IPPROTO_IP;
      out->cmsg_type = IP_PKTINFO;
      out->cmsg_len = CMSG_LEN(sizeof reply);
      std::memcpy(CMSG_DATA(out), &reply, sizeof reply);
      d.control_length = CMSG_SPACE(sizeof reply);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo got;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);  // address and interface (link-local needs it)
      out->cmsg_level = IPPROTO_IPV6;
      out->cmsg_type = IPV6_PKTINFO;
      out->cmsg_len = CMSG_LEN(sizeof got);
      std::memcpy(CMSG_DATA(out), &got, sizeof got);
      d.control_length = CMSG_SPACE(sizeof got);
    }
  }
  return n;
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
  if (dgram_ != nullptr) return transmit_datagrams();
  iovec iov[max_iov];
  for (;;) {
    const std::size_t count = out_->gather(std::span<iovec>(iov, max_iov));
    std::size_t batch = 0;
    for (std::size_t i = 0; i < count; ++i) batch += iov[i].iov_len;
    ssize_t n;
    if (count == 1) {
      n = ::send(fd_, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);  // no iovec array to import
    } else {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = count;
      n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    if (const std::optional<Io> r = account_send(n >= 0 ? n : -errno, batch)) return *r;
  }
}

ConnectionEngine::Io ConnectionEngine::transmit_datagrams() {
  // The replies to one request datagram are one message (memcached's transmit_udp, which
  // frames each response object instead): cut into datagrams of payload_size() bytes, each
  // after its own header with the message's datagram count and its number from 0. The
  // count is fixed by the first send; a send that must wait resumes at the same datagram.
  DatagramPeer& d = *dgram_;
  const std::size_t header = d.header_size();
  const std::size_t payload = d.payload_size();
  if (d.total == 0) d.total = (out_->pending_bytes() + payload - 1) / payload;
  iovec iov[max_iov];
  unsigned char frame[max_datagram_header];
  while (!out_->empty()) {
    std::size_t count = 1 + out_->gather(std::span<iovec>(iov + 1, max_iov - 1));
    std::size_t bytes = 0;
    for (std::size_t i = 1; i < count; ++i) {
      if (bytes + iov[i].iov_len >= payload) {  // this iovec ends the datagram
        iov[i].iov_len = payload - bytes;
        bytes = payload;
        count = i + 1;
        break;
      }
      bytes += iov[i].iov_len;
    }
    if (header != 0) d.framing->write_header({d.header, header}, {frame, header}, d.sequence, d.total);
    iov[0] = {frame, header};
    msghdr msg{};
    msg.msg_name = &d.address;
    msg.msg_namelen = d.length;
    msg.msg_iov = header != 0 ? iov : iov + 1;
    msg.msg_iovlen = header != 0 ? count : count - 1;
    msg.msg_control = d.control_length != 0 ? d.control : nullptr;
    msg.msg_controllen = d.control_length;
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINVAL && msg.msg_controllen != 0) {
      // The request's destination cannot be a source (a broadcast address): let the kernel choose.
      msg.msg_control = nullptr;
      msg.msg_controllen = 0;
      n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    if (n >= 0) {
      worker_.counters()[&ConnectionStats::bytes_written].add(static_cast<std::size_t>(n));
      out_->consume(bytes);
      ++d.sequence;
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      out_ready_ = false;
      return Io::again;
    }
    out_->clear();  // an undeliverable reply is dropped; the listener goes on
  }
  d.total = d.sequence = 0;
  return Io::done;
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
  set_close_reason(errno_code(err));
  return Io::error;
}

}  // namespace connkit::detail
