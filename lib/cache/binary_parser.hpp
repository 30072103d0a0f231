#pragma once

// memcached's binary protocol (proto_bin.c, protocol_binary.h), the parse step: a request's
// 24-byte header, extras and key turned into a Request. Deprecated by memcached since 1.6.0
// and still served; clients (libmemcached, spymemcached) still speak it.
//
//   byte  0       1        2-3      4       5         6-7      8-11     12-15   16-23
//       magic  opcode  key len  ext len  datatype  vbucket  body len  opaque   CAS
//
// A request's body is extras, then key, then value; body len counts all three. Numbers are
// big-endian. A response has the same header with magic 0x81 and a status in bytes 6-7.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "request.hpp"

namespace connkit::cache::detail {

inline constexpr std::size_t binary_header_size = 24;
inline constexpr std::uint8_t binary_request_magic = 0x80;   ///< PROTOCOL_BINARY_REQ
inline constexpr std::uint8_t binary_response_magic = 0x81;  ///< PROTOCOL_BINARY_RES

/// The opcodes memcached 1.6.18 serves (protocol_binary_command). Any other opcode, VERBOSITY
/// (0x1b) included, is answered "Unknown command": 1.6.18 has no handler for it.
enum class BinaryCommand : std::uint8_t {
  get = 0x00, set = 0x01, add = 0x02, replace = 0x03, del = 0x04,
  increment = 0x05, decrement = 0x06, quit = 0x07, flush = 0x08, getq = 0x09,
  noop = 0x0a, version = 0x0b, getk = 0x0c, getkq = 0x0d, append = 0x0e,
  prepend = 0x0f, stat = 0x10, setq = 0x11, addq = 0x12, replaceq = 0x13,
  deleteq = 0x14, incrementq = 0x15, decrementq = 0x16, quitq = 0x17, flushq = 0x18,
  appendq = 0x19, prependq = 0x1a, touch = 0x1c, gat = 0x1d, gatq = 0x1e,
  sasl_list_mechs = 0x20, sasl_auth = 0x21, sasl_step = 0x22, gatk = 0x23, gatkq = 0x24,
};

/// Response statuses (protocol_binary_response_status) the server sends.
enum class BinaryStatus : std::uint16_t {
  success = 0x00,
  key_enoent = 0x01,
  key_eexists = 0x02,
  e2big = 0x03,
  einval = 0x04,
  not_stored = 0x05,
  delta_badval = 0x06,
  auth_error = 0x20,
  unknown_command = 0x81,
  enomem = 0x82,
};

/// The text memcached's write_bin_error sends with each error status.
constexpr std::string_view binary_error_text(BinaryStatus status) noexcept {
  switch (status) {
    case BinaryStatus::key_enoent: return "Not found";
    case BinaryStatus::key_eexists: return "Data exists for key.";
    case BinaryStatus::e2big: return "Too large.";
    case BinaryStatus::einval: return "Invalid arguments";
    case BinaryStatus::not_stored: return "Not stored.";
    case BinaryStatus::delta_badval: return "Non-numeric server-side value for incr or decr";
    case BinaryStatus::auth_error: return "Auth failure.";
    case BinaryStatus::unknown_command: return "Unknown command";
    case BinaryStatus::enomem: return "Out of memory";
    case BinaryStatus::success: break;
  }
  return {};
}

/// The exptime that tells INCREMENT/DECREMENT not to create a missing key.
inline constexpr std::uint32_t binary_no_create = 0xffffffff;

/// Parses the request at the start of `input` as memcached's dispatch_bin_command checks it.
///
/// complete: `out` holds the request; out.size = header + extras + key, the bytes to consume
///   (a storage command's value, out.value_size bytes, follows them). Bytes a request's body
///   length counts beyond its key (STAT, TOUCH and GAT*, whose body memcached does not check)
///   are left for the next parse, as memcached leaves them.
/// need_more: no whole header, or (for a request that will be served) its extras and key
///   have not all arrived.
/// error: out.binary_status and out.error (its text) are the reply, and then
///   - out.close: close once it is sent. With binary_status 0 (a magic other than 0x80)
///     there is no reply: close at once.
///   - else (an unknown opcode): consume out.size bytes, then discard out.value_size more.
///     That is memcached's swallow of the body length counted from after the extras and
///     key, so it takes extras + key bytes of what follows too; kept byte for byte.
/// Header-only errors are found as soon as the header is in, not after its key arrives as
/// memcached waits to; the bytes answered are the same. `limits` is not needed: no binary
/// request makes the server buffer more than header + extras + key (at most 529 bytes once
/// a key over 250 bytes is refused); values are read into items or discarded.
ParseStatus parse_binary(std::span<const char> input, Request& out, const ParseLimits& limits) noexcept;

}  // namespace connkit::cache::detail
