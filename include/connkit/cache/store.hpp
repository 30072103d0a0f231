#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <connkit/reply_list.hpp>

namespace connkit::cache {

/// Seconds since the Unix epoch. Injectable so tests control expiry without sleeping.
using Clock = std::function<std::int64_t()>;

/// A Clock reading the system's real time, to the second (a coarse clock: no time source
/// is read beyond what the kernel already keeps for the current tick).
Clock system_clock();

/// The longest key, in bytes (memcached's KEY_MAX_LENGTH): longer keys are refused by the
/// protocols and by Store::allocate().
inline constexpr std::size_t max_key_length = 250;

/// What a Store is built from.
struct StoreOptions {
  /// Bytes for keys, values and item overhead (memcached's -m): a bound on all item memory,
  /// counted in chunks of the item's size class, free chunks kept for reuse included.
  std::size_t memory_limit = 64u << 20;
  std::size_t item_size_max = 1u << 20;   ///< largest item, overhead included (memcached's -I)
  unsigned shards = 16;                   ///< independent locks; the memory limit stays global
  Clock clock;                            ///< empty: system_clock()
};

class Store;

namespace detail {
class SlabAllocator;
}

/// One cached item: key, 32-bit client flags, expiry, CAS unique and value, in one block.
/// Reference counted: a reply that sends the value zero-copy holds a reference, so the
/// bytes stay valid while another client overwrites or deletes the key.
class Item {
 public:
  std::string_view key() const noexcept { return {data_, key_size_}; }
  /// The value, without the trailing "\r\n".
  std::span<char> value() noexcept { return {data_ + key_size_, value_size_}; }
  std::span<const char> value() const noexcept { return {data_ + key_size_, value_size_}; }
  /// The value followed by "\r\n": what a text-protocol reply sends, and what a set reads.
  std::span<char> value_with_crlf() noexcept { return {data_ + key_size_, value_size_ + 2}; }
  std::uint32_t flags() const noexcept { return flags_; }
  /// Absolute expiry in Unix seconds; 0 = never.
  std::int64_t exptime() const noexcept { return exptime_.load(std::memory_order_relaxed); }
  /// The CAS unique (changes on touch-free updates such as an invalidation).
  std::uint64_t cas() const noexcept { return cas_.load(std::memory_order_relaxed); }
  /// Last time the item was stored or read (Unix seconds).
  std::int64_t last_access() const noexcept { return last_access_.load(std::memory_order_relaxed); }
  /// True once the item has been read since it was stored.
  bool fetched() const noexcept { return fetched_.load(std::memory_order_relaxed); }
  /// Marked stale by an invalidation (meta `md ... I`, `ms ... I`).
  bool stale() const noexcept { return stale_; }
  /// A client already holds the recache token (meta W / Z).
  bool token_sent() const noexcept { return token_sent_; }
  /// Bytes of this item (memcached's item size): what the `bytes` stat adds up. Its memory
  /// is a chunk of its size class, which may be larger.
  std::size_t total_size() const noexcept { return sizeof(Item) + key_size_ + value_size_ + 2; }
  /// The size class of the item's memory, from 1 (memcached's slab class id); 0 for an item
  /// above the largest class, allocated on its own.
  unsigned slab_class() const noexcept { return slab_class_; }

  /// A reference for a zero-copy reply: the reply list releases it once the bytes are sent.
  BufferOwner owner() noexcept;

 private:
  friend class Store;
  friend class ItemRef;
  Item() = default;

  std::atomic<std::uint32_t> refs_{1};
  std::uint32_t flags_ = 0;
  // Changed under the shard lock, read by replies without it: relaxed atomics.
  std::atomic<std::int64_t> exptime_{0};
  std::atomic<std::uint64_t> cas_{0};
  std::atomic<std::int64_t> last_access_{0};
  std::atomic<bool> fetched_{false};
  bool linked_ = false;
  bool stale_ = false;
  bool token_sent_ = false;
  std::uint8_t key_size_ = 0;
  std::uint8_t slab_class_ = 0;
  std::uint32_t value_size_ = 0;
  std::uint32_t lru_bumped_ = 0;  // low 32 bits of the Unix time it last moved to the LRU head
  std::uint64_t hash_ = 0;
  Item* hash_next_ = nullptr;  // shard's hash chain
  Item* lru_prev_ = nullptr;   // shard's LRU list: head = most recent
  Item* lru_next_ = nullptr;
  Store* store_ = nullptr;
  char data_[1];               // key, value, "\r\n"
};

/// An owning reference to an Item (intrusive count; copying takes a reference).
class ItemRef {
 public:
  ItemRef() = default;
  ItemRef(const ItemRef& o) noexcept : item_(o.item_) { retain(); }
  ItemRef(ItemRef&& o) noexcept : item_(std::exchange(o.item_, nullptr)) {}
  ItemRef& operator=(ItemRef o) noexcept {
    std::swap(item_, o.item_);
    return *this;
  }
  ~ItemRef() { reset(); }

  Item* get() const noexcept { return item_; }
  Item* operator->() const noexcept { return item_; }
  Item& operator*() const noexcept { return *item_; }
  explicit operator bool() const noexcept { return item_ != nullptr; }
  void reset() noexcept;

 private:
  friend class Store;
  friend class Item;
  explicit ItemRef(Item* adopted) noexcept : item_(adopted) {}
  void retain() noexcept {
    if (item_ != nullptr) item_->refs_.fetch_add(1, std::memory_order_relaxed);
  }
  Item* item_ = nullptr;
};

/// How a store() treats an existing item (memcached's set/add/replace/append/prepend/cas).
enum class StoreMode : std::uint8_t { set, add, replace, append, prepend, cas };

/// memcached's store_item results.
enum class StoreResult : std::uint8_t { stored, not_stored, exists, not_found, no_memory };

/// Why get() found nothing (memcached counts get_expired and get_flushed apart).
enum class Miss : std::uint8_t { none, missing, expired, flushed };

/// Results of incr/decr.
enum class ArithResult : std::uint8_t { ok, not_found, non_numeric, no_memory, exists };

/// Most TTL flags one meta request can carry (memcached allows 20 tokens in all).
inline constexpr std::size_t max_meta_ttl_flags = 24;

/// Options of a meta get (memcached's mg flags that change the item).
struct MetaGetRequest {
  bool no_update = false;            ///< u: do not bump LRU or access time
  bool vivify = false;               ///< N: create an empty item on a miss
  std::int64_t vivify_exptime = 0;   ///< N's TTL (client form)
  bool set_ttl = false;              ///< T: set a new TTL
  std::int64_t ttl = 0;              ///< T's TTL (client form)
  bool recache = false;              ///< R: win the token if the TTL is below this
  std::int64_t recache_ttl = 0;      ///< R's TTL (client form)
  /// The t/T/N/R flags in request order: memcached applies T, N and R where they stand, so
  /// a `t` before `T` reports the old TTL. Empty: T, then N, then R.
  std::string_view order;
};

/// What a meta get saw and did.
struct MetaGetResult {
  bool created = false;              ///< N made the item
  bool won = false;                  ///< W: this client holds the recache token
  bool token_was_sent = false;       ///< Z: another client already held it
  bool stale = false;                ///< X: the item is stale
  bool fetched_before = false;       ///< h: fetched before this request
  std::int64_t last_access_before = 0;  ///< l: last access before this request
  /// The absolute expiry at each `t` in MetaGetRequest::order (0 = never).
  std::int64_t ttl_at[max_meta_ttl_flags] = {};
};

/// Results of a meta delete.
enum class MetaDeleteResult : std::uint8_t { deleted, not_found, exists };

/// Options of meta arithmetic (ma).
struct ArithRequest {
  bool has_cas = false;              ///< C: only if the CAS matches
  std::uint64_t cas = 0;
  bool vivify = false;               ///< N: create with `initial` on a miss
  std::uint64_t initial = 0;         ///< J
  std::int64_t vivify_exptime = 0;   ///< N's TTL (client form)
  bool set_ttl = false;              ///< T
  std::int64_t ttl = 0;
  std::string_view order;            ///< t/T/N flags in request order (see MetaGetRequest)
  std::int64_t* ttl_at = nullptr;    ///< receives the absolute expiry at each `t`
};

/// Item-level counters (memcached's names in comments).
struct StoreStats {
  std::uint64_t curr_items = 0;    ///< curr_items
  std::uint64_t total_items = 0;   ///< total_items
  std::uint64_t bytes = 0;         ///< bytes
  std::uint64_t evictions = 0;     ///< evictions
  std::uint64_t reclaimed = 0;     ///< reclaimed: expired items whose memory was reused
  std::uint64_t expired_unfetched = 0;  ///< expired_unfetched
  std::uint64_t evicted_unfetched = 0;  ///< evicted_unfetched
  std::uint64_t limit_maxbytes = 0;     ///< limit_maxbytes
  std::uint64_t total_malloced = 0;     ///< total_malloced: item memory held, free chunks included
};

/// A thread-safe memcached-style item store: sharded hash tables, a per-shard LRU, one
/// global memory limit with LRU eviction, lazy expiry on access plus a periodic reclaim,
/// memcached's expiry rules and 64-bit CAS uniques.
class Store {
 public:
  explicit Store(StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// memcached's realtime(): 0 = never; <= 30 days = relative to now; larger = absolute Unix
  /// time; negative = already expired. Returns an absolute time, 0, or -1 (expired).
  std::int64_t absolute_exptime(std::int64_t client_exptime) const noexcept;

  /// Makes an unlinked item with room for `value_size` bytes plus "\r\n" (fill it through
  /// value_with_crlf()). Null if the key is empty or longer than max_key_length, if the item
  /// would exceed item_size_max, or if memory cannot be found. `client_exptime` follows
  /// absolute_exptime().
  ItemRef allocate(std::string_view key, std::uint32_t flags, std::int64_t client_exptime, std::size_t value_size);
  /// True if an item for this key and value size would exceed item_size_max.
  bool too_large(std::size_t key_size, std::size_t value_size) const noexcept;

  /// Links `item` under its key as `mode` says. For cas, `compare` is the client's unique;
  /// for append/prepend a non-zero `compare` must match too (meta ms with C).
  /// With `set_stale` (meta I) a cas older than the item's stores the value marked stale.
  StoreResult store(const ItemRef& item, StoreMode mode, std::uint64_t compare = 0, bool set_stale = false);
  /// The live item for `key` (null when missing, expired or flushed, saying which in `why`);
  /// marks it fetched and most recently used.
  ItemRef get(std::string_view key, Miss* why = nullptr);
  /// get() and set a new expiry (memcached's gat/gats).
  ItemRef get_and_touch(std::string_view key, std::int64_t client_exptime, Miss* why = nullptr);
  /// Sets a new expiry; false if missing.
  bool touch(std::string_view key, std::int64_t client_exptime);
  /// Unlinks the item; false if missing.
  bool remove(std::string_view key);
  /// incr (or decr) a decimal value by `delta`: 64-bit wrap on incr, floor 0 on decr.
  ArithResult arithmetic(std::string_view key, bool increment, std::uint64_t delta, std::uint64_t& result);
  /// Meta arithmetic: as arithmetic(), with CAS check, vivify and TTL; `item` gets the result
  /// item (for its CAS and TTL) and `created` says whether N made it.
  ArithResult arithmetic(std::string_view key, bool increment, std::uint64_t delta, const ArithRequest& request,
                         std::uint64_t& result, ItemRef& item, bool& created);
  /// Meta get (mg): lookup plus the flags that change the item; null on a miss.
  ItemRef meta_get(std::string_view key, const MetaGetRequest& request, MetaGetResult& result, Miss* why = nullptr);
  /// Meta delete (md): with `has_cas` only if it matches; with `invalidate` the item is marked
  /// stale (new CAS, optional new TTL) instead of removed.
  MetaDeleteResult meta_delete(std::string_view key, bool has_cas, std::uint64_t cas, bool invalidate, bool set_ttl,
                               std::int64_t ttl);
  /// flush_all: invalidates every item now (delay 0) or at now + delay.
  void flush_all(std::int64_t delay_seconds);
  /// Frees expired and flushed items in every shard; returns how many.
  std::size_t reclaim_expired();
  /// The periodic reclaim, paced by traffic: one shard per pass, a pass at most once a
  /// second, and up to 16 s apart while passes find nothing expired.
  /// Cheap to call on every request (one relaxed load when there is nothing to do).
  void maybe_reclaim() noexcept;

  StoreStats stats() const;
  const StoreOptions& options() const noexcept { return options_; }
  /// The store's clock: options().clock, or a coarse system clock read directly when none
  /// was given.
  std::int64_t now() const noexcept;

 private:
  struct Shard;
  unsigned shard_index(std::uint64_t hash) const noexcept;
  Shard& shard_for(std::uint64_t hash) noexcept;

  StoreOptions options_;
  bool system_clock_ = false;  // options_.clock is system_clock(): read it without the std::function
  std::unique_ptr<detail::SlabAllocator> slabs_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::size_t> used_bytes_{0};
  std::atomic<std::uint64_t> next_cas_{0};
  std::atomic<std::int64_t> flush_at_{0};     // items last stored before this are invalid once it passes
  std::atomic<std::uint64_t> flush_cas_{0};   // items with cas <= this are invalid (immediate flush)
  std::atomic<unsigned> evict_cursor_{0};
  std::atomic<std::int64_t> next_reclaim_{0};
  std::atomic<std::int64_t> reclaim_interval_{1};  // seconds until the next pass
  std::atomic<unsigned> reclaim_cursor_{0};

  void release(Item* item) noexcept;
  Item* new_item(std::string_view key, std::size_t value_size) noexcept;
  StoreResult store_joined(const ItemRef& item, bool append, std::uint64_t compare);
  bool evict_one(unsigned preferred) noexcept;
  bool is_live(const Item& item, std::int64_t now, Miss* why) const noexcept;
  void unlink_locked(Shard& shard, Item* item) noexcept;
  void link_locked(Shard& shard, Item* item) noexcept;
  void link_new_locked(Shard& shard, Item* item, std::int64_t now) noexcept;
  ItemRef make_number_item(std::string_view key, std::uint32_t flags, std::int64_t exptime_client, std::uint64_t number);
  Item* find_locked(Shard& shard, std::string_view key, std::uint64_t hash) noexcept;
  Item* find_live_locked(Shard& shard, std::string_view key, std::uint64_t hash, std::int64_t now, Miss* why) noexcept;
  /// A hit: moves the item to the LRU head (at most once a minute) and records the access.
  void note_access_locked(Shard& shard, Item* item, std::int64_t now) noexcept;
  std::size_t reclaim_shard(Shard& shard, std::int64_t now) noexcept;
  friend class ItemRef;
};

}  // namespace connkit::cache
