#pragma once

#include <cstddef>
#include <span>

namespace connkit {

/// Header bytes a DatagramFraming may put before each datagram's payload, at most.
inline constexpr std::size_t max_datagram_header = 64;

/// The largest UDP payload over IPv4 (65,535 minus the IP and UDP headers): a UDP listener
/// without a framing cuts replies into datagrams of at most this size.
inline constexpr std::size_t max_udp_payload = 65507;

/// How a UDP listener frames its datagrams, both ways: a header before each request's
/// payload and before each reply datagram's (memcached's 8-byte UDP frame header is one:
/// cache::Endpoint::configure sets it). The library strips a request's header before the
/// protocol handler sees the payload, and cuts the replies to one request datagram into
/// datagrams of at most max_datagram() bytes, header included, numbered from 0: one message,
/// whatever the number of requests the datagram held. One instance serves every worker, so
/// its calls must be thread-safe (a framing is stateless: what it needs of a request is in
/// the request's header, which write_header() gets back).
class DatagramFraming {
 public:
  virtual ~DatagramFraming() = default;

  /// Header bytes before each datagram's payload, requests and replies alike (at most
  /// max_datagram_header).
  virtual std::size_t header_size() const noexcept = 0;
  /// The largest reply datagram, header included (more than header_size()).
  virtual std::size_t max_datagram() const noexcept = 0;
  /// Whether a request datagram whose header is `request` (header_size() bytes) is served;
  /// false drops it unanswered. Datagrams no longer than the header never get here: they
  /// are dropped.
  virtual bool accept(std::span<const unsigned char> request) const noexcept = 0;
  /// Writes into `out` (header_size() bytes) the header of reply datagram `sequence`
  /// (0 .. total - 1) of `total`, answering the request whose header was `request`.
  virtual void write_header(std::span<const unsigned char> request, std::span<unsigned char> out,
                            std::size_t sequence, std::size_t total) const noexcept = 0;
};

}  // namespace connkit
