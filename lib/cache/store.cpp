#include <connkit/cache/store.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>

namespace connkit::cache {
namespace {

// memcached's REALTIME_MAXDELTA: larger expiry values are absolute Unix times.
constexpr std::int64_t max_relative_exptime = 60 * 60 * 24 * 30;

// An eviction pass gives up after this many tries (items still referenced by replies in
// flight are unlinked but their memory comes back only when the reply is sent).
constexpr int max_evictions_per_allocation = 64;

std::uint64_t hash_key(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }

}  // namespace

Clock system_clock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

struct Store::Shard {
  std::mutex mutex;
  std::vector<Item*> buckets = std::vector<Item*>(1024, nullptr);
  std::size_t count = 0;
  Item* lru_head = nullptr;  // most recently used
  Item* lru_tail = nullptr;
  std::uint64_t total_items = 0;
  std::uint64_t evictions = 0;
  std::uint64_t reclaimed = 0;
  std::uint64_t expired_unfetched = 0;
  std::uint64_t evicted_unfetched = 0;
};

// ---- Item and ItemRef -------------------------------------------------------------------

BufferOwner Item::owner() noexcept {
  refs_.fetch_add(1, std::memory_order_relaxed);
  return BufferOwner{[](void* self) noexcept { ItemRef dropped(static_cast<Item*>(self)); }, this};
}

void ItemRef::reset() noexcept {
  if (item_ != nullptr) {
    Item* item = std::exchange(item_, nullptr);
    if (item->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) item->store_->release(item);
  }
}

// ---- Store ------------------------------------------------------------------------------

Store::Store(StoreOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = system_clock();
  if (options_.shards == 0) options_.shards = 1;
  for (unsigned i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

Store::~Store() {
  for (auto& shard : shards_) {
    for (Item* it = shard->lru_head; it != nullptr;) {
      Item* next = it->lru_next_;
      it->linked_ = false;
      ItemRef dropped(it);  // the table's reference
      it = next;
    }
  }
}

Store::Shard& Store::shard_for(std::uint64_t hash) noexcept { return *shards_[(hash >> 40) % shards_.size()]; }

std::int64_t Store::absolute_exptime(std::int64_t client_exptime) const noexcept {
  if (client_exptime == 0) return 0;
  if (client_exptime < 0) return -1;
  const std::int64_t now = options_.clock();
  if (client_exptime > max_relative_exptime) return client_exptime <= now ? -1 : client_exptime;
  return now + client_exptime;
}

bool Store::too_large(std::size_t key_size, std::size_t value_size) const noexcept {
  return sizeof(Item) + key_size + value_size + 2 > options_.item_size_max;
}

void Store::release(Item* item) noexcept {
  used_bytes_.fetch_sub(item->total_size(), std::memory_order_relaxed);
  item->~Item();
  ::operator delete(static_cast<void*>(item));
}

ItemRef Store::allocate(std::string_view key, std::uint32_t flags, std::int64_t client_exptime,
                        std::size_t value_size) {
  if (key.empty() || key.size() > 250 || too_large(key.size(), value_size)) return {};
  const std::size_t size = sizeof(Item) + key.size() + value_size + 2;
  // One global limit: make room by evicting from shard tails, starting with the key's own.
  const unsigned preferred = static_cast<unsigned>((hash_key(key) >> 40) % shards_.size());
  for (int tries = 0; used_bytes_.load(std::memory_order_relaxed) + size > options_.memory_limit; ++tries) {
    if (tries == max_evictions_per_allocation || !evict_one(preferred)) return {};
  }
  void* memory = ::operator new(size, std::nothrow);
  if (memory == nullptr) return {};
  Item* item = new (memory) Item();
  item->flags_ = flags;
  item->exptime_.store(absolute_exptime(client_exptime), std::memory_order_relaxed);
  item->key_size_ = static_cast<std::uint8_t>(key.size());
  item->value_size_ = static_cast<std::uint32_t>(value_size);
  item->hash_ = hash_key(key);
  item->store_ = this;
  std::memcpy(item->data_, key.data(), key.size());
  item->last_access_.store(options_.clock(), std::memory_order_relaxed);
  used_bytes_.fetch_add(size, std::memory_order_relaxed);
  return ItemRef(item);
}

bool Store::evict_one(unsigned preferred) noexcept {
  const std::int64_t now = options_.clock();
  for (std::size_t n = 0; n < shards_.size(); ++n) {
    const unsigned index = n == 0 ? preferred
                                  : evict_cursor_.fetch_add(1, std::memory_order_relaxed) % shards_.size();
    Shard& shard = *shards_[index];
    std::lock_guard<std::mutex> lock(shard.mutex);
    Item* victim = shard.lru_tail;
    if (victim == nullptr) continue;
    if (!is_live(*victim, now, nullptr)) {
      ++shard.reclaimed;
      if (!victim->fetched()) ++shard.expired_unfetched;
    } else {
      ++shard.evictions;
      if (!victim->fetched()) ++shard.evicted_unfetched;
    }
    unlink_locked(shard, victim);
    return true;
  }
  return false;
}

bool Store::is_live(const Item& item, std::int64_t now, Miss* why) const noexcept {
  if (item.exptime_ != 0 && item.exptime_ <= now) {
    if (why != nullptr) *why = Miss::expired;
    return false;
  }
  const std::int64_t flush_at = flush_at_.load(std::memory_order_relaxed);
  if (item.cas_ <= flush_cas_.load(std::memory_order_relaxed) ||
      (flush_at != 0 && now >= flush_at && item.last_access() < flush_at)) {
    if (why != nullptr) *why = Miss::flushed;
    return false;
  }
  return true;
}

Item* Store::find_locked(Shard& shard, std::string_view key, std::uint64_t hash) noexcept {
  for (Item* it = shard.buckets[hash & (shard.buckets.size() - 1)]; it != nullptr; it = it->hash_next_) {
    if (it->hash_ == hash && it->key() == key) return it;
  }
  return nullptr;
}

Item* Store::find_live_locked(Shard& shard, std::string_view key, std::uint64_t hash, std::int64_t now,
                              Miss* why) noexcept {
  Item* item = find_locked(shard, key, hash);
  if (item == nullptr) {
    if (why != nullptr) *why = Miss::missing;
    return nullptr;
  }
  if (!is_live(*item, now, why)) {
    // Lazy expiry: an expired or flushed item found on the way is freed now.
    ++shard.reclaimed;
    if (!item->fetched()) ++shard.expired_unfetched;
    unlink_locked(shard, item);
    return nullptr;
  }
  return item;
}

void Store::link_locked(Shard& shard, Item* item) noexcept {
  if (shard.count + 1 > shard.buckets.size() + shard.buckets.size() / 2) {
    // Grow the table (the only allocation a store makes besides the item itself).
    try {
      std::vector<Item*> bigger(shard.buckets.size() * 2, nullptr);
      for (Item* head : shard.buckets) {
        for (Item* it = head; it != nullptr;) {
          Item* next = it->hash_next_;
          Item*& slot = bigger[it->hash_ & (bigger.size() - 1)];
          it->hash_next_ = slot;
          slot = it;
          it = next;
        }
      }
      shard.buckets.swap(bigger);
    } catch (const std::bad_alloc&) {
      // Longer chains, same correctness.
    }
  }
  Item*& slot = shard.buckets[item->hash_ & (shard.buckets.size() - 1)];
  item->hash_next_ = slot;
  slot = item;
  item->lru_prev_ = nullptr;
  item->lru_next_ = shard.lru_head;
  if (shard.lru_head != nullptr) shard.lru_head->lru_prev_ = item;
  shard.lru_head = item;
  if (shard.lru_tail == nullptr) shard.lru_tail = item;
  item->linked_ = true;
  item->refs_.fetch_add(1, std::memory_order_relaxed);  // the table's reference
  ++shard.count;
  ++shard.total_items;
}

void Store::unlink_locked(Shard& shard, Item* item) noexcept {
  Item** link = &shard.buckets[item->hash_ & (shard.buckets.size() - 1)];
  while (*link != item) link = &(*link)->hash_next_;
  *link = item->hash_next_;
  if (item->lru_prev_ != nullptr) item->lru_prev_->lru_next_ = item->lru_next_;
  if (item->lru_next_ != nullptr) item->lru_next_->lru_prev_ = item->lru_prev_;
  if (shard.lru_head == item) shard.lru_head = item->lru_next_;
  if (shard.lru_tail == item) shard.lru_tail = item->lru_prev_;
  item->hash_next_ = item->lru_prev_ = item->lru_next_ = nullptr;
  item->linked_ = false;
  --shard.count;
  ItemRef dropped(item);  // the table's reference; freed now unless a reply still holds one
}

void Store::link_new_locked(Shard& shard, Item* item, std::int64_t now) noexcept {
  item->cas_.store(next_cas_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  item->last_access_.store(now, std::memory_order_relaxed);
  link_locked(shard, item);
}

StoreResult Store::store(const ItemRef& ref, StoreMode mode, std::uint64_t compare, bool set_stale) {
  Item* item = ref.get();
  Shard& shard = shard_for(item->hash_);
  const std::int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(shard.mutex);
  Item* old = find_live_locked(shard, item->key(), item->hash_, now, nullptr);
  switch (mode) {
    case StoreMode::set:
      break;
    case StoreMode::add:
      if (old != nullptr) return StoreResult::not_stored;
      break;
    case StoreMode::replace:
      if (old == nullptr) return StoreResult::not_stored;
      break;
    case StoreMode::cas:
      if (old == nullptr) return StoreResult::not_found;
      if (old->cas_ != compare) {
        // meta I: an older CAS may still store, as a stale value keeping TTL and token.
        if (!set_stale || compare >= old->cas_) return StoreResult::exists;
        item->exptime_.store(old->exptime_, std::memory_order_relaxed);
        item->stale_ = true;
        item->token_sent_ = old->token_sent_;
      }
      break;
    case StoreMode::append:
    case StoreMode::prepend: {
      if (old == nullptr) return StoreResult::not_stored;
      if (compare != 0 && compare != old->cas_) return StoreResult::exists;  // meta's simplified CAS check
      // A new item holding both values; it keeps the old item's flags and expiry.
      const std::size_t total = old->value_size_ + item->value_size_;
      if (too_large(item->key_size_, total)) return StoreResult::not_stored;
      void* memory = ::operator new(sizeof(Item) + item->key_size_ + total + 2, std::nothrow);
      if (memory == nullptr) return StoreResult::no_memory;
      Item* joined = new (memory) Item();
      joined->flags_ = old->flags_;
      joined->exptime_.store(old->exptime_, std::memory_order_relaxed);
      joined->key_size_ = item->key_size_;
      joined->value_size_ = static_cast<std::uint32_t>(total);
      joined->hash_ = item->hash_;
      joined->store_ = this;
      std::memcpy(joined->data_, item->data_, item->key_size_);
      const Item& first = mode == StoreMode::append ? *old : *item;
      const Item& second = mode == StoreMode::append ? *item : *old;
      char* out = joined->data_ + joined->key_size_;
      std::memcpy(out, first.value().data(), first.value_size_);
      std::memcpy(out + first.value_size_, second.value().data(), second.value_size_);
      std::memcpy(out + total, "\r\n", 2);
      used_bytes_.fetch_add(joined->total_size(), std::memory_order_relaxed);
      unlink_locked(shard, old);
      link_new_locked(shard, joined, now);
      ItemRef creation(joined);  // drops the creation reference; the table keeps its own
      return StoreResult::stored;
    }
  }
  if (old != nullptr) unlink_locked(shard, old);
  item->fetched_.store(false, std::memory_order_relaxed);
  link_new_locked(shard, item, now);
  return StoreResult::stored;
}

ItemRef Store::get(std::string_view key, Miss* why) {
  MetaGetResult ignored;
  return meta_get(key, MetaGetRequest{}, ignored, why);
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
  const std::int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(shard.mutex);
  Item* item = find_live_locked(shard, key, hash, now, nullptr);
  if (item == nullptr) return false;
  unlink_locked(shard, item);
  return true;
}

namespace {

/// Runs meta's t/T/N/R flags in request order against an item's expiry `e`, as memcached's
/// reply loops do: `t` records e, `T` sets it, `N` sets it on a created item (and wins the
/// token), `R` wins the token if e is set and below the recache time.
struct TtlProgram {
  std::int64_t& e;
  std::int64_t* ttl_at;
  std::size_t seen = 0;

  void run(std::string_view order, std::int64_t ttl, bool created, std::int64_t vivify, bool token_sent,
           std::int64_t recache, bool& won) {
    for (char c : order) {
      switch (c) {
        case 't':
          if (ttl_at != nullptr && seen < max_meta_ttl_flags) ttl_at[seen++] = e;
          break;
        case 'T': e = ttl; break;
        case 'N':
          if (created) {
            e = vivify;
            won = true;
          }
          break;
        case 'R':
          if (!token_sent && !created && e != 0 && e < recache) won = true;
          break;
        default: break;
      }
    }
  }
};

}  // namespace

ArithResult Store::arithmetic(std::string_view key, bool increment, std::uint64_t delta, std::uint64_t& result) {
  ItemRef item;
  bool created = false;
  return arithmetic(key, increment, delta, ArithRequest{}, result, item, created);
}

ItemRef Store::make_number_item(std::string_view key, std::uint32_t flags, std::int64_t exptime_client,
                                std::uint64_t number) {
  char digits[24];
  const auto length = static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, number).ptr - digits);
  ItemRef item = allocate(key, flags, exptime_client, length);
  if (item) {
    std::memcpy(item->data_ + item->key_size_, digits, length);
    std::memcpy(item->data_ + item->key_size_ + length, "\r\n", 2);
  }
  return item;
}

ArithResult Store::arithmetic(std::string_view key, bool increment, std::uint64_t delta, const ArithRequest& request,
                              std::uint64_t& result, ItemRef& out, bool& created) {
  created = false;
  // An item N may need is made before locking: allocation can evict from any shard.
  ItemRef fresh = request.vivify ? make_number_item(key, 0, 0, request.initial) : ItemRef();
  auto finish = [&](Item* target, bool made) {
    std::int64_t e = target->exptime();
    bool won = false;
    TtlProgram program{e, request.ttl_at};
    const std::string_view order = request.order.empty() ? std::string_view("TN") : request.order;
    program.run(order, request.set_ttl ? absolute_exptime(request.ttl) : e, made,
                absolute_exptime(request.vivify_exptime), false, 0, won);
    target->exptime_.store(e, std::memory_order_relaxed);
  };
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const std::int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(shard.mutex);
  Item* item = find_live_locked(shard, key, hash, now, nullptr);
  if (item == nullptr) {
    if (!request.vivify) return ArithResult::not_found;
    if (!fresh) return ArithResult::no_memory;
    link_new_locked(shard, fresh.get(), now);
    finish(fresh.get(), true);
    created = true;
    result = request.initial;
    out = std::move(fresh);
    return ArithResult::ok;
  }
  if (request.has_cas && item->cas_ != request.cas) return ArithResult::exists;
  // memcached parses the value with strtoull: optional leading blanks, then digits ended by
  // a blank or the "\r\n" that follows every value.
  const std::span<const char> value = item->value();
  if (value.empty()) return ArithResult::non_numeric;
  std::size_t at = 0;
  while (at < value.size() && (value[at] == ' ' || value[at] == '\t')) ++at;
  std::uint64_t current = 0;
  std::size_t digits_seen = 0;
  for (; at < value.size() && value[at] >= '0' && value[at] <= '9'; ++at, ++digits_seen) {
    const std::uint64_t digit = static_cast<std::uint64_t>(value[at] - '0');
    if (current > (UINT64_MAX - digit) / 10) return ArithResult::non_numeric;
    current = current * 10 + digit;
  }
  if (digits_seen == 0 || (at < value.size() && value[at] != ' ' && value[at] != '\t')) return ArithResult::non_numeric;
  result = increment ? current + delta : (delta > current ? 0 : current - delta);  // incr wraps, decr floors
  char digits[24];
  const auto length = static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, result).ptr - digits);
  if (length <= value.size() && item->refs_.load(std::memory_order_acquire) == 1) {
    // In place, padded with spaces as memcached does when the number gets shorter; only
    // while the table holds the sole reference, so no reply in flight sees torn digits.
    char* data = item->data_ + item->key_size_;
    std::memcpy(data, digits, length);
    std::memset(data + length, ' ', value.size() - length);
    item->cas_.store(next_cas_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  } else {
    void* memory = ::operator new(sizeof(Item) + item->key_size_ + length + 2, std::nothrow);
    if (memory == nullptr) return ArithResult::no_memory;
    Item* replacement = new (memory) Item();
    replacement->flags_ = item->flags_;
    replacement->exptime_.store(item->exptime_, std::memory_order_relaxed);
    replacement->key_size_ = item->key_size_;
    replacement->value_size_ = static_cast<std::uint32_t>(length);
    replacement->hash_ = hash;
    replacement->store_ = this;
    std::memcpy(replacement->data_, item->data_, item->key_size_);
    std::memcpy(replacement->data_ + replacement->key_size_, digits, length);
    std::memcpy(replacement->data_ + replacement->key_size_ + length, "\r\n", 2);
    used_bytes_.fetch_add(replacement->total_size(), std::memory_order_relaxed);
    unlink_locked(shard, item);
    link_new_locked(shard, replacement, now);
    ItemRef creation(replacement);
    item = replacement;
  }
  finish(item, false);
  item->refs_.fetch_add(1, std::memory_order_relaxed);
  out = ItemRef(item);
  return ArithResult::ok;
}

ItemRef Store::meta_get(std::string_view key, const MetaGetRequest& request, MetaGetResult& result, Miss* why) {
  result = MetaGetResult{};
  ItemRef fresh;
  if (request.vivify) {
    fresh = allocate(key, 0, 0, 0);
    if (fresh) std::memcpy(fresh->data_ + fresh->key_size_, "\r\n", 2);
  }
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const std::int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(shard.mutex);
  Miss miss = Miss::missing;
  Item* item = find_live_locked(shard, key, hash, now, &miss);
  if (item == nullptr && fresh) {
    link_new_locked(shard, fresh.get(), now);
    item = fresh.get();
    result.created = true;
  }
  if (item == nullptr) {
    if (why != nullptr) *why = miss;
    return {};
  }
  result.fetched_before = item->fetched();
  result.last_access_before = item->last_access();
  std::int64_t e = item->exptime();
  TtlProgram program{e, result.ttl_at};
  const std::string_view order = request.order.empty() ? std::string_view("TNR") : request.order;
  program.run(order, request.set_ttl ? absolute_exptime(request.ttl) : e, result.created,
              absolute_exptime(request.vivify_exptime), item->token_sent_,
              request.recache ? absolute_exptime(request.recache_ttl) : 0, result.won);
  item->exptime_.store(e, std::memory_order_relaxed);
  result.token_was_sent = item->token_sent_;
  result.stale = item->stale_;
  if (item->stale_ && !item->token_sent_) result.won = true;
  if (result.won) item->token_sent_ = true;
  if (!request.no_update) {
    if (shard.lru_head != item) {
      item->lru_prev_->lru_next_ = item->lru_next_;
      if (item->lru_next_ != nullptr) item->lru_next_->lru_prev_ = item->lru_prev_;
      if (shard.lru_tail == item) shard.lru_tail = item->lru_prev_;
      item->lru_prev_ = nullptr;
      item->lru_next_ = shard.lru_head;
      shard.lru_head->lru_prev_ = item;
      shard.lru_head = item;
    }
    item->last_access_.store(now, std::memory_order_relaxed);
    item->fetched_.store(true, std::memory_order_relaxed);
  }
  if (why != nullptr) *why = Miss::none;
  item->refs_.fetch_add(1, std::memory_order_relaxed);
  return ItemRef(item);
}

MetaDeleteResult Store::meta_delete(std::string_view key, bool has_cas, std::uint64_t cas, bool invalidate,
                                    bool set_ttl, std::int64_t ttl) {
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const std::int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(shard.mutex);
  Item* item = find_live_locked(shard, key, hash, now, nullptr);
  if (item == nullptr) return MetaDeleteResult::not_found;
  if (has_cas && item->cas_ != cas) return MetaDeleteResult::exists;
  if (invalidate) {
    // Marked stale, not removed: the next meta get wins the token to recache it.
    if (set_ttl) item->exptime_.store(absolute_exptime(ttl), std::memory_order_relaxed);
    item->stale_ = true;
    item->token_sent_ = false;
    item->cas_.store(next_cas_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return MetaDeleteResult::deleted;
  }
  unlink_locked(shard, item);
  return MetaDeleteResult::deleted;
}

void Store::flush_all(std::int64_t delay_seconds) {
  if (delay_seconds > 0) {
    flush_at_.store(options_.clock() + delay_seconds, std::memory_order_relaxed);
  } else {
    // Everything stored so far has a CAS unique at or below the current counter.
    flush_cas_.store(next_cas_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    flush_at_.store(0, std::memory_order_relaxed);
  }
}

std::size_t Store::reclaim_shard(Shard& shard, std::int64_t now) noexcept {
  std::size_t freed = 0;
  std::lock_guard<std::mutex> lock(shard.mutex);
  for (Item* it = shard.lru_tail; it != nullptr;) {
    Item* prev = it->lru_prev_;
    if (!is_live(*it, now, nullptr)) {
      ++shard.reclaimed;
      if (!it->fetched()) ++shard.expired_unfetched;
      unlink_locked(shard, it);
      ++freed;
    }
    it = prev;
  }
  return freed;
}

std::size_t Store::reclaim_expired() {
  const std::int64_t now = options_.clock();
  std::size_t freed = 0;
  for (auto& shard : shards_) freed += reclaim_shard(*shard, now);
  return freed;
}

void Store::maybe_reclaim() noexcept {
  const std::int64_t now = options_.clock();
  std::int64_t due = next_reclaim_.load(std::memory_order_relaxed);
  if (now < due || !next_reclaim_.compare_exchange_strong(due, now + 1, std::memory_order_relaxed)) return;
  const unsigned index = reclaim_cursor_.fetch_add(1, std::memory_order_relaxed) % shards_.size();
  reclaim_shard(*shards_[index], now);
}

StoreStats Store::stats() const {
  StoreStats s;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mutex);
    s.curr_items += shard->count;
    s.total_items += shard->total_items;
    s.evictions += shard->evictions;
    s.reclaimed += shard->reclaimed;
    s.expired_unfetched += shard->expired_unfetched;
    s.evicted_unfetched += shard->evicted_unfetched;
  }
  s.bytes = used_bytes_.load(std::memory_order_relaxed);
  s.limit_maxbytes = options_.memory_limit;
  return s;
}

}  // namespace connkit::cache
