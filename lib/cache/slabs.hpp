#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace connkit::cache::detail {

/// Item memory in size classes, memcached's slab classes without the slab pages: a freed
/// chunk goes onto its class's free list and the next item of that class reuses it, so
/// steady-state overwrites never touch the heap. Chunks larger than the largest class are
/// plain allocations, freed at once. The classes are memcached's for the same -n and -f
/// (ids from 1, chunk sizes, the last one slab_chunk_max), so `stats slabs` reads the same.
///
/// Every chunk held, in use or on a free list, counts in allocated(); try_allocate() never
/// lets that exceed the limit it is given, so the limit bounds the store's item memory.
/// Thread-safe: each class's free list has its own lock (a chunk may be freed by whichever
/// worker drops the last reference). Lock order: a store's shard lock, then a class lock.
class SlabAllocator {
 public:
  /// Class number of a plain allocation (classes are numbered from 1, as in memcached).
  static constexpr std::uint8_t no_class = 0;
  /// memcached's slab page (settings.slab_page_size): here only the unit `stats slabs`
  /// counts pages in, since chunks are allocated one by one.
  static constexpr std::size_t page_size = 1u << 20;
  /// Largest chunk kept in a class (memcached's slab_chunk_max, half a page): bigger items
  /// are rare, and a 25% round-up on them would waste the most.
  static constexpr std::size_t largest_class_limit = page_size / 2;
  /// memcached's sizeof(item) on a 64-bit build: its first class is this plus -n.
  static constexpr std::size_t memcached_item_header = 48;
  /// memcached's MAX_NUMBER_OF_SLAB_CLASSES - 1: the most classes there are.
  static constexpr std::size_t max_classes = 63;

  /// memcached's slabs_init(): the first class is memcached_item_header + `chunk_min` (-n)
  /// bytes, each next one `factor` (-f) times the one before, 8-byte aligned, while below
  /// largest / factor; the last one exactly `largest` = min(`item_size_max`,
  /// largest_class_limit).
  SlabAllocator(std::size_t chunk_min, std::size_t item_size_max, double factor);
  /// The largest class's chunk for this -I (memcached's slab_chunk_max).
  static constexpr std::size_t largest_chunk(std::size_t item_size_max) noexcept {
    return item_size_max < largest_class_limit ? (item_size_max < 64 ? 64 : item_size_max) : largest_class_limit;
  }
  ~SlabAllocator();
  SlabAllocator(const SlabAllocator&) = delete;
  SlabAllocator& operator=(const SlabAllocator&) = delete;

  /// The class a `size`-byte item goes in; no_class above the largest class.
  std::uint8_t class_for(std::size_t size) const noexcept;
  /// Bytes a chunk of class `cls` holds (`size` for no_class).
  std::size_t chunk_size(std::uint8_t cls, std::size_t size) const noexcept;

  /// Memory for a `size`-byte item: a free chunk of its class, or a new one if allocated()
  /// stays within `limit`. Null when neither is possible: trim() or evict, then try again.
  /// `cls` receives the chunk's class, to give back with deallocate().
  void* try_allocate(std::size_t size, std::size_t limit, std::uint8_t& cls) noexcept;
  /// Gives back a chunk: onto its class's free list, or to the heap for no_class.
  void deallocate(void* chunk, std::uint8_t cls, std::size_t size) noexcept;
  /// Frees free chunks of classes other than `keep` to the heap until at least `bytes` are
  /// freed or none is left; returns the bytes freed.
  std::size_t trim(std::size_t bytes, std::uint8_t keep) noexcept;

  /// Bytes of every chunk held: in use, on a free list, or plain.
  std::size_t allocated() const noexcept { return allocated_.load(std::memory_order_relaxed); }
  /// Bytes on free lists.
  std::size_t free_bytes() const noexcept;
  /// Number of classes (the largest class number).
  std::size_t classes() const noexcept { return count_; }

  /// One class's memory, for `stats slabs`.
  struct ClassMemory {
    std::size_t chunk_size = 0;
    std::size_t chunks = 0;       ///< chunks held: in use or on the free list
    std::size_t free_chunks = 0;  ///< on the free list
  };
  /// Class `cls` (1 to classes()). Plain allocations above the largest class count in the
  /// largest one, as so many of its chunks as their bytes fill (memcached chains chunks of
  /// that class for such items).
  ClassMemory class_memory(std::uint8_t cls) const noexcept;

 private:
  struct FreeChunk {
    FreeChunk* next;
  };
  // One cache line each: workers freeing chunks of different classes do not contend.
  struct alignas(64) SizeClass {
    std::mutex mutex;
    FreeChunk* head = nullptr;
    std::size_t free_chunks = 0;
    std::size_t size = 0;
    std::atomic<std::size_t> chunks{0};  // held: in use or free (new chunks are made without the lock)
  };

  std::unique_ptr<SizeClass[]> classes_;  // index = class number - 1
  std::size_t count_ = 0;
  std::atomic<std::size_t> allocated_{0};
  std::atomic<std::size_t> plain_chunks_{0};  // plain allocations, in chunks of the largest class

  bool reserve(std::size_t bytes, std::size_t limit) noexcept;
  std::size_t plain_chunks(std::size_t size) const noexcept;
};

}  // namespace connkit::cache::detail
