#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace connkit::cache::detail {

/// Standard base64 (RFC 4648, with padding) for meta keys given with the `b` flag.
/// Returns the decoded length, or 0 when `in` is not valid base64 (as memcached's decoder).
inline std::size_t base64_decode(std::string_view in, char* out, std::size_t capacity) noexcept {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.empty() || in.size() % 4 != 0) return 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + static_cast<std::size_t>(j)];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else {
        v[j] = value(c);
        if (v[j] < 0 || pad != 0) return 0;
      }
    }
    const std::uint32_t triple = (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
                                 (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    const int bytes = 3 - pad;
    if (n + static_cast<std::size_t>(bytes) > capacity) return 0;
    for (int j = 0; j < bytes; ++j) out[n++] = static_cast<char>((triple >> (16 - 8 * j)) & 0xff);
  }
  return n;
}

/// Encodes `in` as base64 into `out` (at least 4 * ceil(size / 3) bytes); returns the length.
inline std::size_t base64_encode(std::string_view in, char* out) noexcept {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t left = in.size() - i;
    std::uint32_t triple = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (left > 1) triple |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    if (left > 2) triple |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 2]));
    out[n++] = alphabet[(triple >> 18) & 63];
    out[n++] = alphabet[(triple >> 12) & 63];
    out[n++] = left > 1 ? alphabet[(triple >> 6) & 63] : '=';
    out[n++] = left > 2 ? alphabet[triple & 63] : '=';
  }
  return n;
}

}  // namespace connkit::cache::detail
