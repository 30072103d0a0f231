#include "udp_protocol.hpp"

#include <algorithm>
#include <cstdint>

namespace connkit::cache::detail {
namespace {

void put16(unsigned char* at, std::size_t value) noexcept {
  at[0] = static_cast<unsigned char>(value >> 8);
  at[1] = static_cast<unsigned char>(value & 0xff);
}

}  // namespace

bool MemcachedUdpFraming::accept(std::span<const unsigned char> request) const noexcept {
  // memcached's try_read_udp: "If this is a multi-packet request, drop it" (a count of 0 too).
  return request[4] == 0 && request[5] == 1;
}

void MemcachedUdpFraming::write_header(std::span<const unsigned char> request, std::span<unsigned char> out,
                                       std::size_t sequence, std::size_t total) const noexcept {
  out[0] = request[0];
  out[1] = request[1];
  put16(&out[2], sequence & 0xffff);
  put16(&out[4], std::min<std::size_t>(total, 0xffff));
  out[6] = out[7] = 0;
}

std::shared_ptr<const DatagramFraming> memcached_udp_framing() {
  static const std::shared_ptr<const DatagramFraming> framing = std::make_shared<MemcachedUdpFraming>();
  return framing;
}

}  // namespace connkit::cache::detail
