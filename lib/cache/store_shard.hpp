#pragma once

// Store internals shared by store.cpp and store_meta.cpp.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

#include <array>

#include <connkit/cache/store.hpp>

#include "slabs.hpp"

namespace connkit::cache {

namespace detail {

/// One size class's item counters in one shard (memcached's itemstats, `stats items`),
/// written under the shard lock. Index 0 holds the items above the largest class.
struct ClassCounters {
  std::uint64_t number = 0, mem_requested = 0;  // gauges: items linked, their bytes
  std::uint64_t evicted = 0, evicted_nonzero = 0, evicted_unfetched = 0;
  std::int64_t evicted_at = 0;     // when the last eviction happened (Unix seconds) ...
  std::uint64_t evicted_time = 0;  // ... and how long its item had gone unused
  std::uint64_t outofmemory = 0, reclaimed = 0, expired_unfetched = 0;
  std::uint64_t crawler_reclaimed = 0, crawler_items_checked = 0, direct_reclaims = 0;
};

}  // namespace detail

struct Store::Shard {
  std::mutex mutex;
  std::vector<detail::ItemHeader*> buckets = std::vector<detail::ItemHeader*>(1024, nullptr);
  std::size_t count = 0;
  std::uint64_t bytes = 0;                 // total_size() of the linked items: memcached's `bytes`
  detail::ItemHeader* lru_head = nullptr;  // most recently used
  detail::ItemHeader* lru_tail = nullptr;
  std::uint64_t total_items = 0;
  std::uint64_t evictions = 0;
  std::uint64_t reclaimed = 0;
  std::uint64_t expired_unfetched = 0;
  std::uint64_t evicted_unfetched = 0;
  std::array<detail::ClassCounters, detail::SlabAllocator::max_classes + 1> classes{};  // by class id

  detail::ClassCounters& of(const detail::ItemHeader& item) noexcept { return classes[item.slab_class]; }
  /// An expired or flushed item is freed (a read found it, the sweep, or an allocation).
  void note_reclaimed(const detail::ItemHeader& item) noexcept {
    const bool unfetched = !item.fetched.load(std::memory_order_relaxed);
    detail::ClassCounters& c = of(item);
    ++reclaimed;
    ++c.reclaimed;
    if (unfetched) {
      ++expired_unfetched;
      ++c.expired_unfetched;
    }
  }
  /// A live item is evicted at `now`.
  void note_evicted(const detail::ItemHeader& item, std::int64_t now) noexcept {
    const bool unfetched = !item.fetched.load(std::memory_order_relaxed);
    detail::ClassCounters& c = of(item);
    ++evictions;
    ++c.evicted;
    if (unfetched) {
      ++evicted_unfetched;
      ++c.evicted_unfetched;
    }
    if (item.exptime.load(std::memory_order_relaxed) != 0) ++c.evicted_nonzero;
    c.evicted_at = now;
    const std::int64_t idle = now - item.last_access.load(std::memory_order_relaxed);
    c.evicted_time = idle > 0 ? static_cast<std::uint64_t>(idle) : 0;
  }
};

namespace detail {

inline std::uint64_t hash_key(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }

// memcached's ITEM_UPDATE_INTERVAL: a hit moves an item to the LRU head at most this often,
// so a hot item costs no writes to its LRU neighbours (two more cache lines) on every hit.
inline constexpr std::uint32_t lru_bump_interval = 60;

}  // namespace detail
}  // namespace connkit::cache
