#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace connkit::bench {

/// Key length used throughout: the loadgen's memcache keys are 32 bytes too.
inline constexpr std::size_t key_size = 32;

/// `count` distinct 32-byte keys: `prefix` (4 bytes) followed by a 28-digit number, the
/// loadgen's "key:%028u" form, so every benchmark hashes and compares realistic keys.
inline std::vector<std::string> make_keys(std::size_t count, const char* prefix = "key:") {
  std::vector<std::string> keys;
  keys.reserve(count);
  char text[key_size + 1];
  for (std::size_t i = 0; i < count; ++i) {
    std::snprintf(text, sizeof text, "%.4s%028zu", prefix, i);
    keys.emplace_back(text, key_size);
  }
  return keys;
}

}  // namespace connkit::bench
