#pragma once

// memcached's binary protocol from the client's side, for tests: requests encoded from their
// parts (with any header field overridden, to make malformed ones) and responses decoded.
// Written from the protocol's description, apart from lib/cache, so a test compares the
// server with an independent reading of the format.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "support/client.hpp"

namespace connkit::test {

/// A request's parts; its header's lengths follow them unless overridden.
struct BinRequest {
  std::uint8_t opcode = 0;
  std::string key;
  std::string extras;
  std::string value;
  std::uint32_t opaque = 0;
  std::uint64_t cas = 0;
  std::uint8_t magic = 0x80;
  std::optional<std::uint16_t> keylen;
  std::optional<std::uint8_t> extlen;
  std::optional<std::uint32_t> bodylen;
};

/// A request of its parts (header lengths follow them).
inline BinRequest req(std::uint8_t opcode, std::string key = {}, std::string extras = {}, std::string value = {},
                      std::uint64_t cas = 0, std::uint32_t opaque = 0) {
  BinRequest r;
  r.opcode = opcode;
  r.key = std::move(key);
  r.extras = std::move(extras);
  r.value = std::move(value);
  r.cas = cas;
  r.opaque = opaque;
  return r;
}

/// `v` in `bytes` bytes, big-endian.
inline std::string big_endian(std::uint64_t v, int bytes) {
  std::string s(static_cast<std::size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}

/// The big-endian number in `bytes`.
inline std::uint64_t from_big_endian(std::string_view bytes) {
  std::uint64_t v = 0;
  for (const char c : bytes) v = v << 8 | static_cast<unsigned char>(c);
  return v;
}

inline std::string encode(const BinRequest& r) {
  std::string s;
  s += static_cast<char>(r.magic);
  s += static_cast<char>(r.opcode);
  s += big_endian(r.keylen.value_or(static_cast<std::uint16_t>(r.key.size())), 2);
  s += static_cast<char>(r.extlen.value_or(static_cast<std::uint8_t>(r.extras.size())));
  s += '\0';  // datatype
  s += big_endian(0, 2);  // vbucket
  s += big_endian(r.bodylen.value_or(static_cast<std::uint32_t>(r.extras.size() + r.key.size() + r.value.size())), 4);
  s += big_endian(r.opaque, 4);
  s += big_endian(r.cas, 8);
  s += r.extras;
  s += r.key;
  s += r.value;
  return s;
}

/// SET/ADD/REPLACE extras: flags and expiration.
inline std::string store_extras(std::uint32_t flags, std::uint32_t exptime) {
  return big_endian(flags, 4) + big_endian(exptime, 4);
}
/// INCREMENT/DECREMENT extras: delta, initial value, expiration (0xffffffff: do not create).
inline std::string arith_extras(std::uint64_t delta, std::uint64_t initial, std::uint32_t exptime) {
  return big_endian(delta, 8) + big_endian(initial, 8) + big_endian(exptime, 4);
}

/// A response, as read from the wire.
struct BinResponse {
  std::uint8_t magic = 0, opcode = 0, extlen = 0, datatype = 0;
  std::uint16_t keylen = 0, status = 0;
  std::uint32_t bodylen = 0, opaque = 0;
  std::uint64_t cas = 0;
  std::string extras, key, value;
};

/// Decodes the response at the start of `bytes`; 0 if it is not all there, else its size.
inline std::size_t decode(std::string_view bytes, BinResponse& r) {
  if (bytes.size() < 24) return 0;
  r.magic = static_cast<std::uint8_t>(bytes[0]);
  r.opcode = static_cast<std::uint8_t>(bytes[1]);
  r.keylen = static_cast<std::uint16_t>(from_big_endian(bytes.substr(2, 2)));
  r.extlen = static_cast<std::uint8_t>(bytes[4]);
  r.datatype = static_cast<std::uint8_t>(bytes[5]);
  r.status = static_cast<std::uint16_t>(from_big_endian(bytes.substr(6, 2)));
  r.bodylen = static_cast<std::uint32_t>(from_big_endian(bytes.substr(8, 4)));
  r.opaque = static_cast<std::uint32_t>(from_big_endian(bytes.substr(12, 4)));
  r.cas = from_big_endian(bytes.substr(16, 8));
  if (bytes.size() < 24 + std::size_t{r.bodylen} || r.bodylen < std::size_t{r.extlen} + r.keylen) return 0;
  r.extras = bytes.substr(24, r.extlen);
  r.key = bytes.substr(24 + r.extlen, r.keylen);
  r.value = bytes.substr(24 + std::size_t{r.extlen} + r.keylen, r.bodylen - r.extlen - r.keylen);
  return 24 + std::size_t{r.bodylen};
}

/// Reads one response; nullopt on close, error or time-out.
inline std::optional<BinResponse> read_response(Client& c) {
  std::string bytes = c.recv_n(24);
  if (bytes.size() != 24) return std::nullopt;
  const std::uint32_t body = static_cast<std::uint32_t>(from_big_endian(std::string_view(bytes).substr(8, 4)));
  bytes += c.recv_n(body);
  BinResponse r;
  if (decode(bytes, r) == 0) return std::nullopt;
  return r;
}

/// A response's shape as one comparable line ("op=0c status=0 key=k extras=4 value=... cas"):
/// what a test expects, with the CAS only said to be there or not.
inline std::string describe(const BinResponse& r) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s = "op=";
  s += hex[r.opcode >> 4];
  s += hex[r.opcode & 15];
  s += " status=" + std::to_string(r.status);
  if (!r.key.empty()) s += " key=" + r.key;
  if (!r.extras.empty()) s += " extras=" + std::to_string(from_big_endian(r.extras));
  if (!r.value.empty()) s += " value=" + r.value;
  if (r.cas != 0) s += " cas";
  return s;
}

/// Sends `request` and describes the one response it gets ("<none>" if none comes).
inline std::string call(Client& c, const BinRequest& request) {
  if (!c.send_all(encode(request))) return "<send failed>";
  const std::optional<BinResponse> r = read_response(c);
  return r ? describe(*r) : "<none>";
}

}  // namespace connkit::test
