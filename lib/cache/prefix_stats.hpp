#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

// memcached's per-prefix stats (stats_prefix.c, `stats detail on|off|dump`): with detail on,
// each get, set and delete of a key that holds the delimiter (':' by default, -D) counts
// under the key's text before the first delimiter. Off by default: while off, recording is
// one relaxed load.

namespace connkit::cache::detail {

class PrefixStats {
 public:
  /// Prefixes tracked at most (memcached tracks any number): keys under further new
  /// prefixes are not counted, so hostile keys cannot grow the table without bound.
  static constexpr std::size_t max_prefixes = 4096;

  explicit PrefixStats(char delimiter) noexcept : delimiter_(delimiter) {}

  bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }
  void enable(bool on) noexcept { enabled_.store(on, std::memory_order_relaxed); }
  char delimiter() const noexcept { return delimiter_; }

  /// A get of `key` (each key of a multi-get; gat too): a miss counts get, a hit get and hit.
  void record_get(std::string_view key, bool hit) {
    if (enabled()) record(key, hit ? 2 : 1, 0, 0);
  }
  /// A storage command's header (set, add, ..., counted whatever becomes of it).
  void record_set(std::string_view key) {
    if (enabled()) record(key, 0, 1, 0);
  }
  /// A delete, found or not.
  void record_delete(std::string_view key) {
    if (enabled()) record(key, 0, 0, 1);
  }

  /// `stats detail dump`: "PREFIX <p> get N hit N set N del N\r\n" per prefix (in the order
  /// first seen), then "END\r\n".
  std::string dump() const;
  /// `stats reset`: forgets every prefix.
  void clear();

 private:
  struct Counts {
    std::uint64_t get = 0, hit = 0, set = 0, del = 0;
  };
  /// gets: 0 none, 1 a miss, 2 a hit.
  void record(std::string_view key, int gets, int sets, int deletes);

  const char delimiter_;
  std::atomic<bool> enabled_{false};
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Counts>> prefixes_;  // first seen first
  std::unordered_map<std::string_view, std::size_t> index_;  // views into prefixes_' strings
};

}  // namespace connkit::cache::detail
