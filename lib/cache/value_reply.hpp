#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace connkit::cache::detail {

/// Values up to this size (with their "\r\n") are copied into a get's reply right after
/// their header rather than referenced: a copy this small costs less than an iovec and a
/// reference count round trip, and the reply stays one contiguous segment.
inline constexpr std::size_t copy_value_limit = 512;

/// Bytes a "VALUE" header for a key of `key_size` bytes may need.
constexpr std::size_t value_header_room(std::size_t key_size) noexcept { return 6 + key_size + 3 * 21 + 2; }

/// Writes "VALUE <key> <flags> <bytes>[ <cas>]\r\n" at `p`, which has value_header_room()
/// bytes; the cas only when `cas` is not null. Returns the end of what was written.
inline char* format_value_header(char* p, std::string_view key, std::uint32_t flags, std::size_t bytes,
                                 const std::uint64_t* cas) noexcept {
  char* const end = p + value_header_room(key.size());
  std::memcpy(p, "VALUE ", 6);
  p += 6;
  std::memcpy(p, key.data(), key.size());
  p += key.size();
  *p++ = ' ';
  p = std::to_chars(p, end, flags).ptr;
  *p++ = ' ';
  p = std::to_chars(p, end, bytes).ptr;
  if (cas != nullptr) {
    *p++ = ' ';
    p = std::to_chars(p, end, *cas).ptr;
  }
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

}  // namespace connkit::cache::detail
