#pragma once

// Receiving a storage command's value (text set/add/replace/append/prepend/cas and ms, the
// binary protocol's set family) without letting a value that has not arrived evict live data.
//
// memcached allocates the item when the command's header arrives and reads the value into it.
// Done here with one global LRU, a client that declares a large value and stalls holds store
// memory it has not filled, and the allocation evicts live items to make that room: 80 clients
// declaring 1 MB values at -m 64 and stalling evicted 991 of 1,000 live small items, and a
// well-behaved client's 1 KB sets then failed (memcached 1.6.18 evicted none and stored
// them). So:
//
//   whole value buffered           the item is allocated at once and the bytes copied into it
//   (available >= size + term)     from the read buffer (Action::read_body_into): the common,
//                                  pipelined case; no extra copy, no staging.
//   value still on its way         the bytes go to staging memory outside the store, charged
//                                  to the endpoint's ValueStaging; the item is allocated (and
//                                  may evict) only in finish(), once the value is complete,
//                                  and the bytes are copied into it. A stalled client holds
//                                  staging memory, bounded by ValueStaging's limit, never
//                                  store memory.
//
// Staging memory: a value up to small_staging_capacity (16 KiB) goes to a per-connection
// buffer kept across requests (steady state makes no heap allocation; only reset(), on a
// close or a bad data chunk, frees it); a larger one to a buffer of its own, freed once the
// value is in the store. A large buffer is allocated uninitialised, so its pages cost memory
// only as the bytes arrive. Past ValueStaging's limit the command is refused with memcached's
// "SERVER_ERROR out of memory storing object" (Begin::no_memory) and the caller swallows the
// value. The cost of staging is one copy of the value, paid by every value that did not all
// arrive with its header: each one past the 16 KiB read buffer, and small ones a client
// sends apart from their header.
//
// Expiry: the client's exptime is turned into an absolute time in begin(), when the header
// arrives, as memcached does, whichever path the value takes.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include <connkit/cache/store.hpp>

namespace connkit::cache::detail {

/// Values up to this size (with their terminator) are staged in a per-connection buffer kept
/// across requests; larger ones get a buffer of their own, freed after use.
inline constexpr std::size_t small_staging_capacity = 16u << 10;

/// Endpoint-wide bound on the bytes held for values whose header arrived and whose bytes have
/// not (the staged path above). Thread-safe (relaxed atomics): one per Endpoint, charged and
/// released by every worker.
class ValueStaging {
 public:
  explicit ValueStaging(std::size_t limit) noexcept : limit_(limit) {}
  ValueStaging(const ValueStaging&) = delete;
  ValueStaging& operator=(const ValueStaging&) = delete;

  /// Charges `n` bytes; false (counted in refused()) if held() would pass limit().
  bool reserve(std::size_t n) noexcept;
  /// Gives back `n` bytes charged by reserve().
  void release(std::size_t n) noexcept { held_.fetch_sub(n, std::memory_order_relaxed); }

  /// Bytes charged now.
  std::size_t held() const noexcept { return held_.load(std::memory_order_relaxed); }
  /// reserve() calls refused since construction.
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }
  std::size_t limit() const noexcept { return limit_; }

 private:
  const std::size_t limit_;
  std::atomic<std::size_t> held_{0};
  std::atomic<std::uint64_t> refused_{0};
};

/// One connection's storage-command value on its way in. Not thread-safe: one per protocol
/// handler, used on its connection's thread. Idle (holds nothing) until begin(), and again
/// after finish() or reset().
class IncomingValue {
 public:
  enum class Begin : std::uint8_t {
    ready,      ///< read value_size + terminator bytes into destination(), then finish()
    too_large,  ///< the item would pass item_size_max: "SERVER_ERROR object too large for cache"
    no_memory,  ///< no room, now: "SERVER_ERROR out of memory storing object"
  };

  IncomingValue() = default;
  IncomingValue(const IncomingValue&) = delete;
  IncomingValue& operator=(const IncomingValue&) = delete;
  ~IncomingValue() { reset(); }

  /// Starts receiving `value_size` bytes plus `terminator` bytes (2: the text protocol's
  /// "\r\n", read into destination() and checked by the caller; 0: binary) for an item
  /// (`key`, `flags`, client `exptime` as Store::absolute_exptime() reads it). `available` is
  /// the input already buffered after the header. The key must be 1 to max_key_length bytes
  /// (the protocols check it first; another is answered no_memory, as Store::allocate()'s
  /// null). Whatever an earlier begin() held is dropped first. On too_large or no_memory
  /// nothing is held; the caller swallows the value (and for a set removes the old item, as
  /// memcached does).
  Begin begin(Store& store, ValueStaging& staging, std::string_view key, std::uint32_t flags, std::int64_t exptime,
              std::size_t value_size, std::size_t terminator, std::size_t available);

  /// Where the caller reads value_size + terminator bytes (Action::read_body_into): the item's
  /// own memory, or staging memory. Empty when idle.
  std::span<char> destination() noexcept { return {dest_, dest_size_}; }
  /// True while the bytes go to staging memory (the value was not all buffered at begin()).
  bool staged() const noexcept { return staged_size_ != 0; }
  /// The key given to the last begin() that answered ready, still there after finish() (a
  /// failed set removes the old item under it) until the next begin() or reset().
  std::string_view key() const noexcept { return {key_, key_size_}; }

  /// After the bytes arrived: the item to link, "\r\n" written after its value (for a staged
  /// value, allocated now, which may evict, and the bytes copied in). Null when memory cannot
  /// be found: the caller answers "SERVER_ERROR out of memory storing object" (for a set,
  /// removing the old item under key() too). Idle afterwards, either way.
  ItemRef finish(Store& store);

  /// Drops whatever is held, staging memory included (connection closed, bad data chunk).
  void reset() noexcept;

 private:
  void drop_value() noexcept;  // back to idle; keeps the small buffer and the key
  void keep_key(std::string_view key) noexcept;

  ItemRef item_;                             // the direct path's item
  ValueStaging* staging_ = nullptr;          // charged staged_size_ bytes while staged
  std::size_t staged_size_ = 0;              // bytes charged (value + terminator); 0 = not staged
  std::unique_ptr<char[]> small_;            // kept across requests, up to small_staging_capacity
  std::size_t small_capacity_ = 0;
  std::unique_ptr<char[]> large_;            // one value's buffer, freed after use
  char* dest_ = nullptr;
  std::size_t dest_size_ = 0;
  // The item's header, kept until finish() allocates a staged one (and the key after it).
  std::size_t value_size_ = 0;
  std::uint32_t flags_ = 0;
  std::int64_t exptime_ = 0;                 // absolute (Store::absolute_exptime), fixed at begin()
  std::uint8_t key_size_ = 0;
  char key_[max_key_length];
};

}  // namespace connkit::cache::detail
