// The store's per-class stats (memcached's `stats slabs` and `stats items`), the item walk
// behind `lru_crawler metadump`, and what counts a failed allocation.
#include <connkit/cache/store.hpp>

#include <algorithm>
#include <mutex>

#include "item.hpp"
#include "store_shard.hpp"

namespace connkit::cache {

using detail::ClassCounters;
using detail::ItemHeader;

namespace {

// `age` is the idle time of a class's least recently used item. Each shard keeps one LRU
// list for all classes, so it is found by walking that list from its tail until every class
// the shard holds has been seen, or this many items: a class not met by then is reported
// with the idle time of the last item walked (its own items were all used more recently).
constexpr std::size_t max_age_walk = 10000;

}  // namespace

Store::Header* Store::out_of_memory(std::uint8_t cls, unsigned shard) noexcept {
  Shard& s = *shards_[shard];
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.classes[cls].outofmemory;
  return nullptr;
}

std::vector<SlabClassStats> Store::class_stats() const {
  const detail::SlabAllocator& slabs = memory_->slabs;
  const std::size_t count = slabs.classes();
  std::vector<SlabClassStats> out(count);
  std::vector<std::int64_t> oldest(count + 1, 0);  // least recent access seen per class id, 0 none
  std::vector<bool> seen(count + 1);
  std::vector<std::int64_t> evicted_at(count + 1, 0);  // the latest eviction seen per class id
  const std::int64_t now = this->now();
  // The class items above the largest class are counted in (memcached's chained items).
  auto id_of = [count](std::size_t cls) { return cls == detail::SlabAllocator::no_class ? count : cls; };
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mutex);
    std::size_t classes_here = 0;
    for (std::size_t cls = 0; cls <= count; ++cls) {
      const ClassCounters& c = shard->classes[cls];
      SlabClassStats& o = out[id_of(cls) - 1];
      o.number += c.number;
      o.mem_requested += c.mem_requested;
      o.evicted += c.evicted;
      o.evicted_nonzero += c.evicted_nonzero;
      o.evicted_unfetched += c.evicted_unfetched;
      o.outofmemory += c.outofmemory;
      o.reclaimed += c.reclaimed;
      o.expired_unfetched += c.expired_unfetched;
      o.crawler_reclaimed += c.crawler_reclaimed;
      o.crawler_items_checked += c.crawler_items_checked;
      o.direct_reclaims += c.direct_reclaims;
      if (c.number != 0) ++classes_here;
    }
    // evicted_time: from the shard that evicted last.
    for (std::size_t cls = 0; cls <= count; ++cls) {
      const ClassCounters& c = shard->classes[cls];
      SlabClassStats& o = out[id_of(cls) - 1];
      if (c.evicted_at != 0 && c.evicted_at >= evicted_at[id_of(cls)]) {
        evicted_at[id_of(cls)] = c.evicted_at;
        o.evicted_time = c.evicted_time;
      }
    }
    std::fill(seen.begin(), seen.end(), false);
    std::size_t walked = 0, found = 0;
    std::int64_t last = 0;
    for (const ItemHeader* it = shard->lru_tail; it != nullptr && found < classes_here && walked < max_age_walk;
         it = it->lru_prev, ++walked) {
      last = it->last_access.load(std::memory_order_relaxed);
      if (seen[it->slab_class]) continue;
      seen[it->slab_class] = true;
      ++found;
      const std::size_t id = id_of(it->slab_class);
      if (oldest[id] == 0 || last < oldest[id]) oldest[id] = last;
    }
    for (std::size_t cls = 0; cls <= count; ++cls) {
      if (shard->classes[cls].number == 0 || seen[cls]) continue;
      const std::size_t id = id_of(cls);
      if (oldest[id] == 0 || last < oldest[id]) oldest[id] = last;
    }
  }
  for (std::size_t id = 1; id <= count; ++id) {
    SlabClassStats& o = out[id - 1];
    o.id = static_cast<unsigned>(id);
    const detail::SlabAllocator::ClassMemory m = slabs.class_memory(static_cast<std::uint8_t>(id));
    o.chunk_size = m.chunk_size;
    o.chunks_per_page = detail::SlabAllocator::page_size / m.chunk_size;
    o.total_chunks = m.chunks;
    o.free_chunks = m.free_chunks;
    o.used_chunks = m.chunks - m.free_chunks;
    if (oldest[id] != 0 && now > oldest[id]) o.age = static_cast<std::uint64_t>(now - oldest[id]);
  }
  return out;
}

std::size_t Store::slab_classes() const noexcept { return memory_->slabs.classes(); }

void Store::reset_class_stats() {
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mutex);
    for (ClassCounters& c : shard->classes) {
      const ClassCounters gauges{.number = c.number, .mem_requested = c.mem_requested};
      c = gauges;
    }
  }
}

void Store::for_each_item(const std::function<void(const Item&)>& visit) const {
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mutex);
    for (const ItemHeader* it = shard->lru_head; it != nullptr; it = it->lru_next) {
      visit(*detail::item_of(const_cast<ItemHeader*>(it)));
    }
  }
}

}  // namespace connkit::cache
