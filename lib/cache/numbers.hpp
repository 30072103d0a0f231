#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>

namespace connkit::cache::detail {

// memcached 1.6.18's safe_strtoul / safe_strtol / safe_strtoull (util.c), on a token that is
// not NUL-terminated: the same C conversions on a NUL-terminated copy, so every edge answers
// as memcached's does on LP64 (Linux x86-64, what Debian's memcached runs on):
//  - strtoul/strtol/strtoull skip leading blanks and take a sign: "+5", "\t5" and "-0" parse;
//  - ERANGE (past the C type: unsigned long, long, unsigned long long) is refused;
//  - the number must end the token or be followed by a blank (isspace in the C locale:
//    " \t\n\v\f\r"); "5x" is refused, "5\t-" is not;
//  - safe_strtoul and safe_strtoull refuse a value whose top bit is set only if the token
//    holds a '-' anywhere (strchr over the whole token), so "-1" is refused and
//    "18446744073709551615" is not;
//  - nothing else is range-checked: safe_strtoul stores an unsigned long (64 bits) in a
//    uint32_t and safe_strtol a long in an int32_t, keeping the low 32 bits. So flags
//    4294967296 read as 0, exptime 4294967396 as 100, 4000000000 as -294967296 (the past),
//    and a set length of 4294967296 as 0. Callers keep memcached's own checks after the call
//    (a length must be 0 to INT_MAX - 2).

/// The token as the NUL-terminated string memcached's tokenizer hands its parsers. On the
/// stack up to 63 bytes; a longer one (only leading zeros or blanks make it a number) is
/// copied to the heap, and c_str() is null if that fails.
class CToken {
 public:
  explicit CToken(std::string_view token) noexcept {
    char* out = small_;
    if (token.size() >= sizeof small_) {
      large_.reset(new (std::nothrow) char[token.size() + 1]);
      out = large_.get();
      if (out == nullptr) return;
    }
    std::memcpy(out, token.data(), token.size());
    out[token.size()] = '\0';
    text_ = out;
  }
  CToken(const CToken&) = delete;
  CToken& operator=(const CToken&) = delete;

  const char* c_str() const noexcept { return text_; }

 private:
  char small_[64];
  std::unique_ptr<char[]> large_;
  const char* text_ = nullptr;
};

/// memcached's xisspace(): isspace() in the C locale, whatever locale the host program set.
inline bool is_c_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/// What memcached accepts after the digits: the end of the token or a blank.
inline bool ends_number(const char* end) noexcept { return *end == '\0' || is_c_space(*end); }

inline bool safe_strtoul(std::string_view token, std::uint32_t& out) noexcept {
  out = 0;
  const CToken text(token);
  const char* str = text.c_str();
  if (str == nullptr) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long value = std::strtoul(str, &end, 10);
  if (errno == ERANGE || end == str || !ends_number(end)) return false;
  if (static_cast<long>(value) < 0 && std::strchr(str, '-') != nullptr) return false;
  out = static_cast<std::uint32_t>(value);  // the low 32 bits, as memcached's assignment
  return true;
}

inline bool safe_strtol(std::string_view token, std::int32_t& out) noexcept {
  out = 0;
  const CToken text(token);
  const char* str = text.c_str();
  if (str == nullptr) return false;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(str, &end, 10);
  if (errno == ERANGE || end == str || !ends_number(end)) return false;
  // No range check, as in memcached: the low 32 bits, read as two's complement (C++20
  // defines the conversion; memcached's C compiler does the same).
  out = static_cast<std::int32_t>(value);
  return true;
}

inline bool safe_strtoull(std::string_view token, std::uint64_t& out) noexcept {
  out = 0;
  const CToken text(token);
  const char* str = text.c_str();
  if (str == nullptr) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(str, &end, 10);
  if (errno == ERANGE || end == str || !ends_number(end)) return false;
  if (static_cast<long long>(value) < 0 && std::strchr(str, '-') != nullptr) return false;
  out = value;
  return true;
}

}  // namespace connkit::cache::detail
