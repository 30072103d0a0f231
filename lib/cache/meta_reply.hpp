#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include <connkit/cache/store.hpp>

#include "base64.hpp"
#include "request.hpp"

// Composing meta replies, apart from connections: an mg hit or miss composed on a worker
// (meta_protocol.cpp) or on the thread that finished a load (read_through.cpp).

namespace connkit::cache::detail {

/// Builds one meta reply line in a stack buffer, so an error part-way leaves nothing queued.
class MetaLine {
 public:
  void text(std::string_view s) noexcept {
    const std::size_t n = std::min(s.size(), sizeof buffer_ - size_);
    std::memcpy(buffer_ + size_, s.data(), n);
    size_ += n;
  }
  template <class Number>
  void number(Number v) noexcept {
    size_ = static_cast<std::size_t>(std::to_chars(buffer_ + size_, buffer_ + sizeof buffer_, v).ptr - buffer_);
  }
  /// " <c><number>"
  template <class Number>
  void flag(char c, Number v) noexcept {
    const char head[2] = {' ', c};
    text(std::string_view(head, 2));
    number(v);
  }
  /// memcached's META_KEY: " k<key>", or " k<base64> b" for a binary key.
  void key(std::string_view key, bool binary) noexcept {
    text(" k");
    if (!binary) {
      text(key);
      return;
    }
    char encoded[344];
    text(std::string_view(encoded, base64_encode(key, encoded)));
    text(" b");
  }
  std::string_view view() const noexcept { return {buffer_, size_}; }

 private:
  char buffer_[1024];
  std::size_t size_ = 0;
};

/// " t<seconds left>" or " t-1" for an item that never expires.
inline void put_ttl(MetaLine& line, std::int64_t exptime, std::int64_t now) noexcept {
  if (exptime == 0) {
    line.text(" t-1");
  } else {
    line.flag('t', static_cast<std::uint32_t>(exptime - now));
  }
}

/// What an mg reply shows of an item just loaded: never fetched, accessed now, and its
/// expiry at every `t`.
inline MetaGetResult loaded_item_seen(const Item& item, std::int64_t now) noexcept {
  MetaGetResult seen;
  seen.last_access_before = now;
  for (std::int64_t& at : seen.ttl_at) at = item.exptime();
  return seen;
}

/// An mg hit's line into `line`: "VA <size>" (with `value`) or "HD", the return flags of
/// `flags` (the request's flag tokens, in order) and "\r\n"; the value is not included.
/// False if an O token is too long (`line` is then unusable).
bool compose_meta_hit(MetaLine& line, std::span<const std::string_view> flags, const Item& item,
                      const MetaGetResult& seen, std::int64_t now, bool value, bool key_binary) noexcept;

/// An mg miss's line into `line`: "EN" and the O and k flags, without "\r\n".
/// False if an O token is too long.
bool compose_meta_miss(MetaLine& line, std::span<const std::string_view> flags, std::string_view key,
                       bool key_binary) noexcept;

}  // namespace connkit::cache::detail
