#pragma once

// memcached's UDP frame header (protocol.txt, "UDP protocol"; memcached.c try_read_udp and
// build_udp_header): 8 bytes before each datagram's payload, four 16-bit fields in network
// byte order.
//
//   bytes 0-1  request id       chosen by the client, echoed in every reply datagram
//   bytes 2-3  sequence number  of this reply datagram, from 0
//   bytes 4-5  datagram count   of the whole reply (a request must say 1)
//   bytes 6-7  reserved         0
//
// A request datagram must be alone (count 1) and hold more than its header; memcached reads
// neither its sequence number nor the reserved field, and neither does this. Replies are cut
// into datagrams of at most 1,400 bytes, header included (UDP_MAX_PAYLOAD_SIZE), each with
// the count of the whole reply (capped at 65,535 as memcached caps it).

#include <cstddef>
#include <memory>
#include <span>

#include <connkit/datagram_framing.hpp>

namespace connkit::cache::detail {

inline constexpr std::size_t udp_header_size = 8;         ///< memcached's UDP_HEADER_SIZE
inline constexpr std::size_t udp_max_datagram = 1400;     ///< memcached's UDP_MAX_PAYLOAD_SIZE, header included

/// memcached's UDP framing, for ListenerOptions::framing.
class MemcachedUdpFraming final : public DatagramFraming {
 public:
  std::size_t header_size() const noexcept override { return udp_header_size; }
  std::size_t max_datagram() const noexcept override { return udp_max_datagram; }
  bool accept(std::span<const unsigned char> request) const noexcept override;
  void write_header(std::span<const unsigned char> request, std::span<unsigned char> out, std::size_t sequence,
                    std::size_t total) const noexcept override;
};

/// The one MemcachedUdpFraming every UDP listener of the cache shares.
std::shared_ptr<const DatagramFraming> memcached_udp_framing();

}  // namespace connkit::cache::detail
