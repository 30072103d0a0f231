#pragma once

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace connkit::cache::detail {

// memcached's safe_strtoul / safe_strtol / safe_strtoull (util.c), on a token that is not
// NUL-terminated: the same C conversions on a stack copy, so edge cases (leading '+',
// "-0", 32-bit truncation of flags on LP64) answer exactly as memcached does.

inline bool copy_token(std::string_view token, char (&out)[64]) noexcept {
  if (token.empty() || token.size() >= sizeof out) return false;
  std::memcpy(out, token.data(), token.size());
  out[token.size()] = '\0';
  return true;
}

inline bool ends_number(const char* str, const char* end) noexcept {
  return end != str && (*end == '\0' || *end == ' ' || *end == '\t' || *end == '\r' || *end == '\n');
}

inline bool safe_strtoul(std::string_view token, std::uint32_t& out) noexcept {
  char text[64];
  out = 0;
  if (!copy_token(token, text)) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (errno == ERANGE || end == text || !ends_number(text, end)) return false;
  if (static_cast<long>(value) < 0 && std::memchr(text, '-', static_cast<std::size_t>(end - text)) != nullptr) {
    return false;
  }
  out = static_cast<std::uint32_t>(value);
  return true;
}

inline bool safe_strtol(std::string_view token, std::int32_t& out) noexcept {
  char text[64];
  out = 0;
  if (!copy_token(token, text)) return false;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (errno == ERANGE || end == text || value > INT_MAX || value < INT_MIN || !ends_number(text, end)) return false;
  out = static_cast<std::int32_t>(value);
  return true;
}

inline bool safe_strtoull(std::string_view token, std::uint64_t& out) noexcept {
  char text[64];
  out = 0;
  if (!copy_token(token, text)) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno == ERANGE || end == text || !ends_number(text, end)) return false;
  if (static_cast<long long>(value) < 0 && std::memchr(text, '-', static_cast<std::size_t>(end - text)) != nullptr) {
    return false;
  }
  out = value;
  return true;
}

}  // namespace connkit::cache::detail
