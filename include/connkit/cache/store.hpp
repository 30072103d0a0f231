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
  /// Whether a store that needs memory may evict live items from LRU tails. false is
  /// memcached's -M: only expired or flushed items make room, else the store answers
  /// no_memory (`SERVER_ERROR out of memory storing object`).
  bool evictions = true;
  unsigned shards = 16;                   ///< independent locks; the memory limit stays global
  /// Size classes as memcached's slab classes: the first holds memcached's 48-byte item
  /// header plus this many bytes (-n), each next one growth_factor (-f, above 1) times larger,
  /// up to half a megabyte; same ids and chunk sizes as memcached's for the same -n and -f.
  std::size_t slab_chunk_min = 48;
  double growth_factor = 1.25;
  Clock clock;                            ///< empty: system_clock()
};

namespace detail {

struct ItemMemory;   // lib/cache/item.hpp: the store's memory a released item goes back to
struct StoreAccess;  // lib/cache/item.hpp: the key to Item's and ItemRef's store-only constructors

/// The fields of an Item, then its key, value and "\r\n" (memcached's item header and
/// data). Internal: only the store writes them (lib/cache/item.hpp reaches them); users read
/// them through Item's accessors. Item's only member, so the two share an address.
struct ItemHeader {
  std::atomic<std::uint32_t> refs{1};
  std::uint32_t flags = 0;
  // Changed under the shard lock, read by replies without it: relaxed atomics.
  std::atomic<std::int64_t> exptime{0};
  std::atomic<std::uint64_t> cas{0};
  std::atomic<std::int64_t> last_access{0};
  std::atomic<bool> fetched{false};
  bool linked = false;
  bool stale = false;
  bool token_sent = false;
  bool key_binary = false;  // stored by a meta command whose key came base64 (b): me shows it so
  std::uint8_t key_size = 0;
  std::uint8_t slab_class = 0;
  std::uint32_t value_size = 0;
  std::uint32_t lru_bumped = 0;   // low 32 bits of the Unix time it last moved to the LRU head
  std::uint64_t hash = 0;
  ItemHeader* hash_next = nullptr;  // shard's hash chain
  ItemHeader* lru_prev = nullptr;   // shard's LRU list: head = most recent
  ItemHeader* lru_next = nullptr;
  ItemMemory* memory = nullptr;     // where the item goes back once the last reference drops
  char data[1];                     // key, value, "\r\n"

  std::string_view key() const noexcept { return {data, key_size}; }
  std::span<char> value() noexcept { return {data + key_size, value_size}; }
  std::span<const char> value() const noexcept { return {data + key_size, value_size}; }
  std::size_t total_size() const noexcept { return sizeof(ItemHeader) + key_size + value_size + 2; }
};

}  // namespace detail

/// One cached item: key, 32-bit client flags, expiry, CAS unique and value, in one block.
/// Reference counted: a reply that sends the value zero-copy holds a reference, so the
/// bytes stay valid while another client overwrites or deletes the key.
class Item {
 public:
  /// Made only by the store (no one else can name a StoreAccess).
  explicit Item(const detail::StoreAccess&) noexcept {}
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;

  std::string_view key() const noexcept { return h_.key(); }
  /// The value, without the trailing "\r\n".
  std::span<char> value() noexcept { return h_.value(); }
  std::span<const char> value() const noexcept { return h_.value(); }
  /// The value followed by "\r\n": what a text-protocol reply sends, and what a set reads.
  std::span<char> value_with_crlf() noexcept { return {h_.data + h_.key_size, h_.value_size + 2}; }
  std::uint32_t flags() const noexcept { return h_.flags; }
  /// Absolute expiry in Unix seconds; 0 = never.
  std::int64_t exptime() const noexcept { return h_.exptime.load(std::memory_order_relaxed); }
  /// The CAS unique (changes on touch-free updates such as an invalidation).
  std::uint64_t cas() const noexcept { return h_.cas.load(std::memory_order_relaxed); }
  /// Last time the item was stored or read (Unix seconds).
  std::int64_t last_access() const noexcept { return h_.last_access.load(std::memory_order_relaxed); }
  /// True once the item has been read since it was stored.
  bool fetched() const noexcept { return h_.fetched.load(std::memory_order_relaxed); }
  /// Marked stale by an invalidation (meta `md ... I`, `ms ... I`).
  bool stale() const noexcept { return h_.stale; }
  /// A client already holds the recache token (meta W / Z).
  bool token_sent() const noexcept { return h_.token_sent; }
  /// Stored by a meta set whose key was given in base64 (memcached's ITEM_KEY_BINARY).
  bool key_binary() const noexcept { return h_.key_binary; }
  /// Bytes of this item (memcached's item size): what the `bytes` stat adds up. Its memory
  /// is a chunk of its size class, which may be larger.
  std::size_t total_size() const noexcept { return h_.total_size(); }
  /// The size class of the item's memory, from 1 (memcached's slab class id); 0 for an item
  /// above the largest class, allocated on its own.
  unsigned slab_class() const noexcept { return h_.slab_class; }

  /// A reference for a zero-copy reply: the reply list releases it once the bytes are sent.
  BufferOwner owner() noexcept;

 private:
  detail::ItemHeader h_;  // the only member (standard layout): see detail::header()
};

/// An owning reference to an Item (intrusive count; copying takes a reference).
class ItemRef {
 public:
  ItemRef() = default;
  /// Adopts a reference the store already counted (only the store can name a StoreAccess).
  ItemRef(Item* adopted, const detail::StoreAccess&) noexcept : item_(adopted) {}
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
  void retain() noexcept;
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

/// What a meta delete (md) asks for.
struct MetaDeleteRequest {
  bool has_cas = false;              ///< C: only if the CAS matches
  std::uint64_t cas = 0;
  bool invalidate = false;           ///< I: mark stale (new CAS) instead of removing
  bool set_ttl = false;              ///< T: with I, a new TTL
  std::int64_t ttl = 0;              ///< T's TTL (client form)
  unsigned* slab_class = nullptr;    ///< receives the found item's size class (for per-class stats)
};

/// What incr / decr ask for: text and binary (delta; binary's initial value and expiry) and
/// meta arithmetic (ma's flags).
struct ArithRequest {
  bool increment = true;             ///< incr; false: decr
  std::uint64_t delta = 1;
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

/// What arithmetic() did.
struct ArithOutcome {
  ArithResult result = ArithResult::not_found;
  std::uint64_t value = 0;  ///< ok: the new value
  ItemRef item;             ///< ok: the item holding it (its CAS, its TTL)
  bool created = false;     ///< ok: made from `initial` (vivify)
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
  /// Sums of the per-class counters (SlabClassStats), zeroed by reset_class_stats().
  std::uint64_t crawler_reclaimed = 0, crawler_items_checked = 0, direct_reclaims = 0;
};

/// One size class (memcached's slab class), for `stats slabs` and `stats items`; fields are
/// named after the memcached stats they feed.
struct SlabClassStats {
  unsigned id = 0;                       ///< class id, from 1
  std::uint64_t chunk_size = 0;          ///< bytes of each chunk
  std::uint64_t chunks_per_page = 0;     ///< chunks a 1 MB memcached page holds (the unit of total_pages)
  std::uint64_t total_chunks = 0;        ///< chunks held, in use or free
  std::uint64_t used_chunks = 0;
  std::uint64_t free_chunks = 0;         ///< on the class's free list
  std::uint64_t number = 0;              ///< items linked
  std::uint64_t mem_requested = 0;       ///< their bytes (Item::total_size())
  std::uint64_t age = 0;                 ///< seconds since the class's least recently used item was used
  std::uint64_t evicted = 0, evicted_nonzero = 0, evicted_time = 0, evicted_unfetched = 0;
  std::uint64_t outofmemory = 0, reclaimed = 0, expired_unfetched = 0;
  std::uint64_t crawler_reclaimed = 0, crawler_items_checked = 0, direct_reclaims = 0;
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

  /// Stores a copy of `value` under `key`, as a client's `set` does: the item is allocated,
  /// filled and linked, with the "\r\n" that replies send after a value written here, so
  /// nothing a host stores can desynchronise a client. `exptime` follows absolute_exptime().
  /// Results: stored; no_memory when room cannot be found now; not_stored when the item can
  /// never be stored (a key empty or over max_key_length, or an item over item_size_max,
  /// which too_large() tells). A set that fails removes the key's old value, as memcached's
  /// does, so a stale value never outlives a write that was meant to replace it.
  StoreResult set(std::string_view key, std::string_view value, std::uint32_t flags = 0, std::int64_t exptime = 0);
  /// The same for any mode: add and replace answer not_stored when their condition fails;
  /// append and prepend keep the old item's flags and expiry (those given are ignored); cas
  /// stores only over the item whose CAS unique is `compare`.
  StoreResult store(std::string_view key, std::string_view value, StoreMode mode, std::uint32_t flags = 0,
                    std::int64_t exptime = 0, std::uint64_t compare = 0);

  /// Links `item` under its key as `mode` says. For cas, `compare` is the client's unique;
  /// for append/prepend a non-zero `compare` must match too (meta ms with C).
  /// With `set_stale` (meta I) a cas older than the item's stores the value marked stale.
  /// Once stored, item->cas() is the stored value's CAS unique; for append/prepend, the
  /// joined item's (what memcached's store_item reports: binary replies and meta's c need it).
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
  /// incr (or decr) a decimal value by `delta`: 64-bit wrap on incr, floor 0 on decr; with
  /// the request's CAS check, vivify (create from `initial`) and TTL flags.
  ArithOutcome arithmetic(std::string_view key, const ArithRequest& request);
  /// Meta get (mg): lookup plus the flags that change the item; null on a miss.
  ItemRef meta_get(std::string_view key, const MetaGetRequest& request, MetaGetResult& result, Miss* why = nullptr);
  /// Meta delete (md): with has_cas only if it matches; with invalidate the item is marked
  /// stale (new CAS, optional new TTL) instead of removed.
  MetaDeleteResult meta_delete(std::string_view key, const MetaDeleteRequest& request);
  /// flush_all: invalidates every item now (delay 0) or at now + delay.
  void flush_all(std::int64_t delay_seconds);
  /// Frees expired and flushed items in every shard; returns how many.
  std::size_t reclaim_expired();
  /// The periodic reclaim, paced by traffic: one shard per pass, a pass at most once a
  /// second, and up to 16 s apart while passes find nothing expired.
  /// Cheap to call on every request (one relaxed load when there is nothing to do).
  void maybe_reclaim() noexcept;

  StoreStats stats() const;
  /// Every size class in id order (lib/cache/store_stats.cpp). Items above the largest
  /// class count in it, as memcached chains that class's chunks for them.
  std::vector<SlabClassStats> class_stats() const;
  /// Number of size classes (the largest class id).
  std::size_t slab_classes() const noexcept;
  /// `stats reset`: zeroes the per-class counters (not the gauges: number, mem_requested, chunks).
  void reset_class_stats();
  /// Calls `visit` for every linked item, one shard at a time under its lock (keep it short;
  /// it must not call the store). For `lru_crawler metadump`.
  void for_each_item(const std::function<void(const Item&)>& visit) const;
  /// memcached's `cache_memlimit`: the memory limit from now on. Lowering it below what is
  /// held frees memory lazily, as later allocations trim free chunks and evict.
  void set_memory_limit(std::size_t bytes) noexcept { memory_limit_.store(bytes, std::memory_order_relaxed); }
  std::size_t memory_limit() const noexcept { return memory_limit_.load(std::memory_order_relaxed); }
  /// `lru_crawler enable|disable`: whether maybe_reclaim() sweeps (on by default).
  void set_reclaim_enabled(bool on) noexcept { reclaim_enabled_.store(on, std::memory_order_relaxed); }
  bool reclaim_enabled() const noexcept { return reclaim_enabled_.load(std::memory_order_relaxed); }
  const StoreOptions& options() const noexcept { return options_; }
  /// The store's clock: options().clock, or a coarse system clock read directly when none
  /// was given.
  std::int64_t now() const noexcept;

 private:
  struct Shard;
  unsigned shard_index(std::uint64_t hash) const noexcept;
  Shard& shard_for(std::uint64_t hash) noexcept;

  StoreOptions options_;
  std::atomic<std::size_t> memory_limit_{options_.memory_limit};  // cache_memlimit changes it
  std::atomic<bool> reclaim_enabled_{true};
  bool system_clock_ = false;  // options_.clock is system_clock(): read it without the std::function
  std::unique_ptr<detail::ItemMemory> memory_;  // size classes and the bytes of live items
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> next_cas_{0};
  std::atomic<std::int64_t> flush_at_{0};     // items last stored before this are invalid once it passes
  std::atomic<std::uint64_t> flush_cas_{0};   // items with cas <= this are invalid (immediate flush)
  std::atomic<unsigned> evict_cursor_{0};
  std::atomic<std::int64_t> next_reclaim_{0};
  std::atomic<std::int64_t> reclaim_interval_{1};  // seconds until the next pass
  std::atomic<unsigned> reclaim_cursor_{0};

  // The internals work on items' headers (lib/cache/item.hpp): the ItemHeader of an Item
  // is at its address.
  using Header = detail::ItemHeader;
  Header* new_item(std::string_view key, std::size_t value_size) noexcept;
  StoreResult store_joined(const ItemRef& item, bool append, std::uint64_t compare);
  ArithResult arithmetic(std::string_view key, const ArithRequest& request, std::uint64_t& result, ItemRef& item,
                         bool& created);
  bool evict_one(unsigned preferred, bool live_too) noexcept;
  bool is_live(const Header& item, std::int64_t now, Miss* why) const noexcept;
  void unlink_locked(Shard& shard, Header* item) noexcept;
  void link_locked(Shard& shard, Header* item) noexcept;
  void link_new_locked(Shard& shard, Header* item, std::int64_t now) noexcept;
  ItemRef make_number_item(std::string_view key, std::uint32_t flags, std::int64_t exptime_client, std::uint64_t number);
  Header* find_locked(Shard& shard, std::string_view key, std::uint64_t hash) noexcept;
  Header* find_live_locked(Shard& shard, std::string_view key, std::uint64_t hash, std::int64_t now, Miss* why) noexcept;
  /// A hit: moves the item to the LRU head (at most once a minute) and records the access.
  void note_access_locked(Shard& shard, Header* item, std::int64_t now) noexcept;
  std::size_t reclaim_shard(Shard& shard, std::int64_t now) noexcept;
  /// An allocation of class `cls` failed: counted (outofmemory); returns null.
  Header* out_of_memory(std::uint8_t cls, unsigned shard) noexcept;
};

}  // namespace connkit::cache
