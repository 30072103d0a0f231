#include <connkit/cache/store.hpp>

#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>

#include <time.h>

#include "item.hpp"
#include "store_shard.hpp"

namespace connkit::cache {

using detail::hash_key;
using detail::header;
using detail::item_of;
using detail::ItemHeader;
using detail::lru_bump_interval;
using detail::share;
using detail::store_access;

namespace {

// memcached's REALTIME_MAXDELTA: larger expiry values are absolute Unix times.
constexpr std::int64_t max_relative_exptime = 60 * 60 * 24 * 30;

// An eviction pass gives up after this many tries (items still referenced by replies in
// flight are unlinked but their memory comes back only when the reply is sent).
constexpr int max_evictions_per_allocation = 64;

// The longest wait between periodic reclaim passes while they keep finding nothing.
constexpr std::int64_t max_reclaim_interval = 16;

static_assert(sizeof(void*) != 8 || sizeof(Item) == 96, "the item header stays at 96 bytes");
static_assert(max_key_length <= UINT8_MAX, "Item keeps the key size in a byte");

// Seconds are all the store needs: the coarse clock is the kernel's last tick, read without
// touching a hardware time source.
std::int64_t coarse_unix_seconds() noexcept {
  timespec ts{};
  if (::clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  return ts.tv_sec;
}

}  // namespace

Clock system_clock() { return [] { return coarse_unix_seconds(); }; }

// ---- Item and ItemRef -------------------------------------------------------------------

BufferOwner Item::owner() noexcept {
  h_.refs.fetch_add(1, std::memory_order_relaxed);
  return BufferOwner{[](void* self) noexcept { ItemRef dropped(static_cast<Item*>(self), store_access); }, this};
}

void ItemRef::retain() noexcept {
  if (item_ != nullptr) header(*item_).refs.fetch_add(1, std::memory_order_relaxed);
}

void ItemRef::reset() noexcept {
  if (item_ != nullptr) {
    ItemHeader& h = header(*std::exchange(item_, nullptr));
    if (h.refs.fetch_sub(1, std::memory_order_acq_rel) == 1) h.memory->release(&h);
  }
}

// ---- Store ------------------------------------------------------------------------------

Store::Store(StoreOptions options)
    : options_(std::move(options)),
      memory_(std::make_unique<detail::ItemMemory>(options_.slab_chunk_min, options_.item_size_max,
                                                   options_.growth_factor)) {
  if (!options_.clock) {
    options_.clock = system_clock();
    system_clock_ = true;
  }
  if (options_.shards == 0) options_.shards = 1;
  for (unsigned i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

Store::~Store() {
  for (auto& shard : shards_) {
    for (ItemHeader* it = shard->lru_head; it != nullptr;) {
      ItemHeader* next = it->lru_next;
      it->linked = false;
      ItemRef dropped(item_of(it), store_access);  // the table's reference
      it = next;
    }
  }
}

std::int64_t Store::now() const noexcept { return system_clock_ ? coarse_unix_seconds() : options_.clock(); }

unsigned Store::shard_index(std::uint64_t hash) const noexcept {
  return static_cast<unsigned>((hash >> 40) % shards_.size());
}

Store::Shard& Store::shard_for(std::uint64_t hash) noexcept { return *shards_[shard_index(hash)]; }

std::int64_t Store::absolute_exptime(std::int64_t client_exptime) const noexcept {
  if (client_exptime == 0) return 0;
  if (client_exptime < 0) return -1;
  const std::int64_t now = this->now();
  if (client_exptime > max_relative_exptime) return client_exptime <= now ? -1 : client_exptime;
  return now + client_exptime;
}

bool Store::too_large(std::size_t key_size, std::size_t value_size) const noexcept {
  return sizeof(Item) + key_size + value_size + 2 > options_.item_size_max;
}

ItemHeader* Store::new_item(std::string_view key, std::size_t value_size) noexcept {
  const std::size_t size = sizeof(Item) + key.size() + value_size + 2;
  const std::size_t limit = memory_limit_.load(std::memory_order_relaxed);
  // One global limit on all chunks, free ones included. Room comes first from free chunks
  // of other classes, then from LRU tails, starting with the key's own shard. Never called
  // under a shard lock: eviction takes them.
  const std::uint64_t hash = hash_key(key);
  const unsigned preferred = shard_index(hash);
  std::uint8_t cls = detail::SlabAllocator::no_class;
  void* memory = nullptr;
  detail::SlabAllocator& slabs = memory_->slabs;
  for (int tries = 0; (memory = slabs.try_allocate(size, limit, cls)) == nullptr;) {
    const std::size_t need = slabs.chunk_size(cls, size);
    const std::size_t held = slabs.allocated();
    if (held + need > limit && slabs.trim(held + need - limit, cls) > 0) continue;
    if (tries++ == max_evictions_per_allocation || !evict_one(preferred, options_.evictions)) {
      return out_of_memory(cls, preferred);  // memcached's items:N:outofmemory
    }
  }
  ItemHeader* item = &header(*new (memory) Item(store_access));
  item->slab_class = cls;
  item->key_size = static_cast<std::uint8_t>(key.size());
  item->value_size = static_cast<std::uint32_t>(value_size);
  item->hash = hash;
  item->memory = memory_.get();
  std::memcpy(item->data, key.data(), key.size());
  return item;
}

ItemRef Store::allocate(std::string_view key, std::uint32_t flags, std::int64_t client_exptime,
                        std::size_t value_size) {
  if (key.empty() || key.size() > max_key_length || too_large(key.size(), value_size)) return {};
  ItemHeader* item = new_item(key, value_size);
  if (item == nullptr) return {};
  item->flags = flags;
  item->exptime.store(absolute_exptime(client_exptime), std::memory_order_relaxed);
  item->last_access.store(now(), std::memory_order_relaxed);
  return ItemRef(item_of(item), store_access);  // the creation reference
}

// Unlinks one LRU tail: an expired or flushed one (reclaimed), or, when `live_too`, a live one
// (evicted). False when no shard has a tail it may take.
bool Store::evict_one(unsigned preferred, bool live_too) noexcept {
  const std::int64_t now = this->now();
  for (std::size_t n = 0; n < shards_.size(); ++n) {
    const unsigned index = n == 0 ? preferred
                                  : evict_cursor_.fetch_add(1, std::memory_order_relaxed) % shards_.size();
    Shard& shard = *shards_[index];
    std::lock_guard<std::mutex> lock(shard.mutex);
    ItemHeader* victim = shard.lru_tail;
    if (victim == nullptr) continue;
    const bool live = is_live(*victim, now, nullptr);
    if (live && !live_too) continue;  // -M: nothing live is evicted
    if (!live) {
      shard.note_reclaimed(*victim);
    } else {
      shard.note_evicted(*victim, now);
    }
    ++shard.of(*victim).direct_reclaims;
    unlink_locked(shard, victim);
    return true;
  }
  return false;
}

bool Store::is_live(const ItemHeader& item, std::int64_t now, Miss* why) const noexcept {
  const std::int64_t exptime = item.exptime.load(std::memory_order_relaxed);
  if (exptime != 0 && exptime <= now) {
    if (why != nullptr) *why = Miss::expired;
    return false;
  }
  const std::int64_t flush_at = flush_at_.load(std::memory_order_relaxed);
  if (item.cas.load(std::memory_order_relaxed) <= flush_cas_.load(std::memory_order_relaxed) ||
      (flush_at != 0 && now >= flush_at && item.last_access.load(std::memory_order_relaxed) < flush_at)) {
    if (why != nullptr) *why = Miss::flushed;
    return false;
  }
  return true;
}

ItemHeader* Store::find_locked(Shard& shard, std::string_view key, std::uint64_t hash) noexcept {
  for (ItemHeader* it = shard.buckets[hash & (shard.buckets.size() - 1)]; it != nullptr; it = it->hash_next) {
    if (it->hash == hash && it->key() == key) return it;
  }
  return nullptr;
}

ItemHeader* Store::find_live_locked(Shard& shard, std::string_view key, std::uint64_t hash, std::int64_t now,
                                    Miss* why) noexcept {
  ItemHeader* item = find_locked(shard, key, hash);
  if (item == nullptr) {
    if (why != nullptr) *why = Miss::missing;
    return nullptr;
  }
  if (!is_live(*item, now, why)) {
    // Lazy expiry: an expired or flushed item found on the way is freed now.
    shard.note_reclaimed(*item);
    unlink_locked(shard, item);
    return nullptr;
  }
  return item;
}

void Store::link_locked(Shard& shard, ItemHeader* item) noexcept {
  if (shard.count + 1 > shard.buckets.size() + shard.buckets.size() / 2) {
    // Grow the table (the only allocation a store makes besides the item itself).
    try {
      std::vector<ItemHeader*> bigger(shard.buckets.size() * 2, nullptr);
      for (ItemHeader* head : shard.buckets) {
        for (ItemHeader* it = head; it != nullptr;) {
          ItemHeader* next = it->hash_next;
          ItemHeader*& slot = bigger[it->hash & (bigger.size() - 1)];
          it->hash_next = slot;
          slot = it;
          it = next;
        }
      }
      shard.buckets.swap(bigger);
    } catch (const std::bad_alloc&) {
      // Longer chains, same correctness.
    }
  }
  ItemHeader*& slot = shard.buckets[item->hash & (shard.buckets.size() - 1)];
  item->hash_next = slot;
  slot = item;
  item->lru_prev = nullptr;
  item->lru_next = shard.lru_head;
  if (shard.lru_head != nullptr) shard.lru_head->lru_prev = item;
  shard.lru_head = item;
  if (shard.lru_tail == nullptr) shard.lru_tail = item;
  item->linked = true;
  item->refs.fetch_add(1, std::memory_order_relaxed);  // the table's reference
  ++shard.count;
  ++shard.total_items;
  ++shard.of(*item).number;
  shard.of(*item).mem_requested += item->total_size();
  // `bytes` counts linked items only (memcached's do_item_link/do_item_unlink): an item held
  // only by an unfinished set or a reply still being sent is not live data.
  shard.bytes += item->total_size();
}

void Store::unlink_locked(Shard& shard, ItemHeader* item) noexcept {
  ItemHeader** link = &shard.buckets[item->hash & (shard.buckets.size() - 1)];
  while (*link != item) link = &(*link)->hash_next;
  *link = item->hash_next;
  if (item->lru_prev != nullptr) item->lru_prev->lru_next = item->lru_next;
  if (item->lru_next != nullptr) item->lru_next->lru_prev = item->lru_prev;
  if (shard.lru_head == item) shard.lru_head = item->lru_next;
  if (shard.lru_tail == item) shard.lru_tail = item->lru_prev;
  item->hash_next = item->lru_prev = item->lru_next = nullptr;
  item->linked = false;
  --shard.count;
  shard.bytes -= item->total_size();
  --shard.of(*item).number;
  shard.of(*item).mem_requested -= item->total_size();
  ItemRef dropped(item_of(item), store_access);  // the table's reference; freed now unless a reply still holds one
}

void Store::link_new_locked(Shard& shard, ItemHeader* item, std::int64_t now) noexcept {
  item->cas.store(next_cas_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  item->last_access.store(now, std::memory_order_relaxed);
  item->lru_bumped = static_cast<std::uint32_t>(now);
  link_locked(shard, item);
}

StoreResult Store::store(const ItemRef& ref, StoreMode mode, std::uint64_t compare, bool set_stale) {
  if (mode == StoreMode::append || mode == StoreMode::prepend) {
    return store_joined(ref, mode == StoreMode::append, compare);
  }
  ItemHeader* item = &header(*ref);
  Shard& shard = shard_for(item->hash);
  const std::int64_t now = this->now();
  std::lock_guard<std::mutex> lock(shard.mutex);
  ItemHeader* old = find_live_locked(shard, item->key(), item->hash, now, nullptr);
  switch (mode) {
    case StoreMode::set:
      break;
    case StoreMode::add:
      if (old != nullptr) return StoreResult::not_stored;
      break;
    case StoreMode::replace:
      if (old == nullptr) return StoreResult::not_stored;
      break;
    case StoreMode::cas: {
      if (old == nullptr) return StoreResult::not_found;
      const std::uint64_t old_cas = old->cas.load(std::memory_order_relaxed);
      if (old_cas != compare) {
        // meta I: an older CAS may still store, as a stale value keeping TTL and token.
        if (!set_stale || compare >= old_cas) return StoreResult::exists;
        item->exptime.store(old->exptime.load(std::memory_order_relaxed), std::memory_order_relaxed);
        item->stale = true;
        item->token_sent = old->token_sent;
      }
      break;
    }
    case StoreMode::append:
    case StoreMode::prepend:
      break;  // store_joined()
  }
  if (old != nullptr) unlink_locked(shard, old);
  item->fetched.store(false, std::memory_order_relaxed);
  link_new_locked(shard, item, now);
  return StoreResult::stored;
}

StoreResult Store::set(std::string_view key, std::string_view value, std::uint32_t flags, std::int64_t exptime) {
  return store(key, value, StoreMode::set, flags, exptime);
}

StoreResult Store::store(std::string_view key, std::string_view value, StoreMode mode, std::uint32_t flags,
                         std::int64_t exptime, std::uint64_t compare) {
  const bool storable = !key.empty() && key.size() <= max_key_length && !too_large(key.size(), value.size());
  ItemRef item = storable ? allocate(key, flags, exptime, value.size()) : ItemRef();
  if (!item) {
    // memcached's process_update_command: a set that fails (too large or no memory) takes the
    // old value with it. A bad key names no item.
    if (mode == StoreMode::set && !key.empty() && key.size() <= max_key_length) remove(key);
    return storable ? StoreResult::no_memory : StoreResult::not_stored;
  }
  const std::span<char> room = item->value_with_crlf();
  if (!value.empty()) std::memcpy(room.data(), value.data(), value.size());
  std::memcpy(room.data() + value.size(), "\r\n", 2);
  return store(item, mode, compare);
}

StoreResult Store::store_joined(const ItemRef& ref, bool append, std::uint64_t compare) {
  const ItemHeader* item = &header(*ref);
  Shard& shard = shard_for(item->hash);
  // A new item holding both values; it keeps the old item's flags and expiry. Its memory is
  // found outside the shard lock (finding it may evict from any shard), so the old value is
  // looked up again afterwards, and the size checked once more.
  ItemRef joined;
  for (;;) {
    const std::int64_t now = this->now();
    std::unique_lock<std::mutex> lock(shard.mutex);
    ItemHeader* old = find_live_locked(shard, item->key(), item->hash, now, nullptr);
    if (old == nullptr) return StoreResult::not_stored;
    if (compare != 0 && compare != old->cas.load(std::memory_order_relaxed)) {
      return StoreResult::exists;  // meta's simplified CAS check
    }
    const std::size_t total = old->value_size + item->value_size;
    if (too_large(item->key_size, total)) return StoreResult::not_stored;
    if (!joined || joined->value().size() != total) {
      lock.unlock();
      joined.reset();
      ItemHeader* memory = new_item(item->key(), total);
      if (memory == nullptr) return StoreResult::no_memory;
      joined = ItemRef(item_of(memory), store_access);
      continue;
    }
    ItemHeader& out_item = header(*joined);
    out_item.flags = old->flags;
    out_item.exptime.store(old->exptime.load(std::memory_order_relaxed), std::memory_order_relaxed);
    const ItemHeader& first = append ? *old : *item;
    const ItemHeader& second = append ? *item : *old;
    char* out = out_item.value().data();
    std::memcpy(out, first.value().data(), first.value_size);
    std::memcpy(out + first.value_size, second.value().data(), second.value_size);
    std::memcpy(out + total, "\r\n", 2);
    unlink_locked(shard, old);
    link_new_locked(shard, &out_item, now);
    // The caller's item is never linked: it reports the CAS of the item that was.
    header(*ref).cas.store(out_item.cas.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return StoreResult::stored;  // `joined` drops the creation reference; the table keeps its own
  }
}

ItemRef Store::get(std::string_view key, Miss* why) {
  // meta_get without flags, minus its TTL program and lease bookkeeping: a plain get, as
  // memcached's, neither reads nor takes an invalidated item's recache token.
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const std::int64_t now = this->now();
  std::lock_guard<std::mutex> lock(shard.mutex);
  Miss miss = Miss::missing;
  ItemHeader* item = find_live_locked(shard, key, hash, now, &miss);
  if (why != nullptr) *why = item != nullptr ? Miss::none : miss;
  if (item == nullptr) return {};
  note_access_locked(shard, item, now);
  return share(item);
}

void Store::note_access_locked(Shard& shard, ItemHeader* item, std::int64_t now) noexcept {
  const auto now32 = static_cast<std::uint32_t>(now);
  if (now32 - item->lru_bumped > lru_bump_interval && shard.lru_head != item) {
    item->lru_bumped = now32;
    item->lru_prev->lru_next = item->lru_next;
    if (item->lru_next != nullptr) item->lru_next->lru_prev = item->lru_prev;
    if (shard.lru_tail == item) shard.lru_tail = item->lru_prev;
    item->lru_prev = nullptr;
    item->lru_next = shard.lru_head;
    shard.lru_head->lru_prev = item;
    shard.lru_head = item;
  }
  // Written only when they change: a hot item's header stays clean in other cores' caches.
  if (item->last_access.load(std::memory_order_relaxed) != now) {
    item->last_access.store(now, std::memory_order_relaxed);
  }
  if (!item->fetched.load(std::memory_order_relaxed)) item->fetched.store(true, std::memory_order_relaxed);
}

ItemRef Store::get_and_touch(std::string_view key, std::int64_t client_exptime, Miss* why) {
  MetaGetRequest request;
  request.set_ttl = true;
  request.ttl = client_exptime;
  MetaGetResult ignored;
  return meta_get(key, request, ignored, why);
}

bool Store::touch(std::string_view key, std::int64_t client_exptime) {
  return static_cast<bool>(get_and_touch(key, client_exptime));
}

bool Store::remove(std::string_view key) {
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const std::int64_t now = this->now();
  std::lock_guard<std::mutex> lock(shard.mutex);
  ItemHeader* item = find_live_locked(shard, key, hash, now, nullptr);
  if (item == nullptr) return false;
  unlink_locked(shard, item);
  return true;
}

void Store::flush_all(std::int64_t delay_seconds) {
  if (delay_seconds > 0) {
    flush_at_.store(now() + delay_seconds, std::memory_order_relaxed);
  } else {
    // Everything stored so far has a CAS unique at or below the current counter.
    flush_cas_.store(next_cas_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    flush_at_.store(0, std::memory_order_relaxed);
  }
}

std::size_t Store::reclaim_shard(Shard& shard, std::int64_t now) noexcept {
  std::size_t freed = 0;
  std::lock_guard<std::mutex> lock(shard.mutex);
  for (ItemHeader* it = shard.lru_tail; it != nullptr;) {
    ItemHeader* prev = it->lru_prev;
    ++shard.of(*it).crawler_items_checked;
    if (!is_live(*it, now, nullptr)) {
      shard.note_reclaimed(*it);
      ++shard.of(*it).crawler_reclaimed;
      unlink_locked(shard, it);
      ++freed;
    }
    it = prev;
  }
  return freed;
}

std::size_t Store::reclaim_expired() {
  const std::int64_t now = this->now();
  std::size_t freed = 0;
  for (auto& shard : shards_) freed += reclaim_shard(*shard, now);
  return freed;
}

void Store::maybe_reclaim() noexcept {
  const std::int64_t now = this->now();
  std::int64_t due = next_reclaim_.load(std::memory_order_relaxed);
  if (now < due || !next_reclaim_.compare_exchange_strong(due, now + 1, std::memory_order_relaxed)) return;
  if (!reclaim_enabled_.load(std::memory_order_relaxed)) return;  // `lru_crawler disable`
  const unsigned index = reclaim_cursor_.fetch_add(1, std::memory_order_relaxed) % shards_.size();
  // A pass walks the whole shard under its lock. While passes find nothing the next one
  // waits longer (up to max_reclaim_interval); one that frees something brings it back to
  // a second, as memcached's LRU crawler schedules itself by what it found.
  const std::int64_t interval = reclaim_interval_.load(std::memory_order_relaxed);
  const bool found = reclaim_shard(*shards_[index], now) != 0;
  const std::int64_t next = found ? 1 : std::min<std::int64_t>(interval * 2, max_reclaim_interval);
  reclaim_interval_.store(next, std::memory_order_relaxed);
  next_reclaim_.store(now + next, std::memory_order_relaxed);
}

StoreStats Store::stats() const {
  StoreStats s;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mutex);
    s.curr_items += shard->count;
    s.bytes += shard->bytes;
    s.total_items += shard->total_items;
    s.evictions += shard->evictions;
    s.reclaimed += shard->reclaimed;
    s.expired_unfetched += shard->expired_unfetched;
    s.evicted_unfetched += shard->evicted_unfetched;
    for (const detail::ClassCounters& c : shard->classes) {
      s.crawler_reclaimed += c.crawler_reclaimed;
      s.crawler_items_checked += c.crawler_items_checked;
      s.direct_reclaims += c.direct_reclaims;
    }
  }
  s.total_malloced = memory_->slabs.allocated();
  s.limit_maxbytes = memory_limit();
  return s;
}

}  // namespace connkit::cache
