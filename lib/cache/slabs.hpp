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
/// plain allocations, freed at once.
///
/// Every chunk held, in use or on a free list, counts in allocated(); try_allocate() never
/// lets that exceed the limit it is given, so the limit bounds the store's item memory.
/// Thread-safe: each class's free list has its own lock (a chunk may be freed by whichever
/// worker drops the last reference). Lock order: a store's shard lock, then a class lock.
class SlabAllocator {
 public:
  /// Class number of a plain allocation (classes are numbered from 1, as in memcached).
  static constexpr std::uint8_t no_class = 0;
  /// Largest chunk kept in a class (memcached's default item size limit): bigger items are
  /// rare, and a 25% round-up on them would waste the most.
  static constexpr std::size_t largest_class_limit = 1u << 20;

  /// Classes from `smallest` bytes growing by `factor` up to min(`largest`, largest_class_limit).
  SlabAllocator(std::size_t smallest, std::size_t largest, double factor = 1.25);
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

  /// Counts an item of class `cls` that found no memory (memcached's items:N:outofmemory);
  /// an item above the largest class counts in the largest, as memcached's slabs_clsid()
  /// files it there.
  void count_out_of_memory(std::uint8_t cls) noexcept {
    classes_[(cls == no_class ? count_ : cls) - 1].out_of_memory.fetch_add(1, std::memory_order_relaxed);
  }
  /// Items of class `cls` (1 to classes()) that found no memory since the allocator was made.
  std::uint64_t out_of_memory(std::uint8_t cls) const noexcept {
    return classes_[cls - 1].out_of_memory.load(std::memory_order_relaxed);
  }

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
    std::atomic<std::uint64_t> out_of_memory{0};  // count_out_of_memory()
  };

  std::unique_ptr<SizeClass[]> classes_;  // index = class number - 1
  std::size_t count_ = 0;
  std::atomic<std::size_t> allocated_{0};

  bool reserve(std::size_t bytes, std::size_t limit) noexcept;
};

}  // namespace connkit::cache::detail
