#pragma once

// Store internals shared by store.cpp and store_meta.cpp.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

#include <connkit/cache/store.hpp>

namespace connkit::cache {

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
};

namespace detail {

inline std::uint64_t hash_key(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }

// memcached's ITEM_UPDATE_INTERVAL: a hit moves an item to the LRU head at most this often,
// so a hot item costs no writes to its LRU neighbours (two more cache lines) on every hit.
inline constexpr std::uint32_t lru_bump_interval = 60;

}  // namespace detail
}  // namespace connkit::cache
