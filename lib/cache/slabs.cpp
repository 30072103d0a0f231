#include "slabs.hpp"

#include <algorithm>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define CONNKIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONNKIT_ASAN 1
#endif
#endif
#if defined(CONNKIT_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace connkit::cache::detail {
namespace {

// memcached's CHUNK_ALIGN_BYTES; enough for an item header (the heap aligns each chunk further).
constexpr unsigned class_alignment = 8;

// A chunk on a free list is poisoned past its link under AddressSanitizer, so a reply that
// read an item after its last reference was dropped is still caught although the memory
// was not returned to the heap.
void poison(void* chunk, std::size_t size) noexcept {
#if defined(CONNKIT_ASAN)
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(chunk) + sizeof(void*), size - sizeof(void*));
#else
  (void)chunk;
  (void)size;
#endif
}

void unpoison(void* chunk, std::size_t size) noexcept {
#if defined(CONNKIT_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(chunk, size);
#else
  (void)chunk;
  (void)size;
#endif
}

}  // namespace

SlabAllocator::SlabAllocator(std::size_t chunk_min, std::size_t item_size_max, double factor) {
  const std::size_t largest = largest_chunk(item_size_max);
  if (!(factor > 1.0)) factor = 1.25;  // memcached refuses -f 1 or less; a library caller gets the default
  // memcached's slabs_init(), unsigned arithmetic and its truncation included (with -f 1.01
  // the 96-byte class repeats until the class ids run out, as in memcached).
  std::size_t sizes[max_classes];
  std::size_t n = 0;
  auto size = static_cast<unsigned>(std::max(memcached_item_header + std::min(chunk_min, largest), sizeof(FreeChunk)));
  while (n + 1 < max_classes && static_cast<double>(size) < static_cast<double>(largest) / factor) {
    if (size % class_alignment != 0) size += class_alignment - size % class_alignment;
    sizes[n++] = size;
    size = static_cast<unsigned>(static_cast<double>(size) * factor);
  }
  sizes[n++] = largest;
  count_ = n;
  classes_ = std::make_unique<SizeClass[]>(n);
  for (std::size_t i = 0; i < n; ++i) classes_[i].size = sizes[i];
}

SlabAllocator::~SlabAllocator() {
  for (std::size_t i = 0; i < count_; ++i) {
    for (FreeChunk* c = classes_[i].head; c != nullptr;) {
      FreeChunk* next = c->next;
      unpoison(c, classes_[i].size);
      ::operator delete(static_cast<void*>(c));
      c = next;
    }
  }
}

std::uint8_t SlabAllocator::class_for(std::size_t size) const noexcept {
  if (size > classes_[count_ - 1].size) return no_class;
  std::size_t low = 0, high = count_ - 1;  // the answer is in [low, high]
  while (low < high) {
    const std::size_t mid = (low + high) / 2;
    if (classes_[mid].size < size) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return static_cast<std::uint8_t>(low + 1);
}

std::size_t SlabAllocator::chunk_size(std::uint8_t cls, std::size_t size) const noexcept {
  return cls == no_class ? size : classes_[cls - 1].size;
}

bool SlabAllocator::reserve(std::size_t bytes, std::size_t limit) noexcept {
  // A compare-exchange, not an add and a check: two workers at the limit cannot both pass.
  std::size_t held = allocated_.load(std::memory_order_relaxed);
  do {
    if (held + bytes > limit) return false;
  } while (!allocated_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
  return true;
}

void* SlabAllocator::try_allocate(std::size_t size, std::size_t limit, std::uint8_t& cls) noexcept {
  cls = class_for(size);
  if (cls != no_class) {
    SizeClass& c = classes_[cls - 1];
    std::unique_lock<std::mutex> lock(c.mutex);
    if (FreeChunk* chunk = c.head) {
      c.head = chunk->next;
      --c.free_chunks;
      lock.unlock();
      unpoison(chunk, c.size);
      if (allocated() <= limit) return chunk;
      // Over the limit (it was lowered: cache_memlimit): the chunk goes back to the heap
      // instead, and the caller evicts for room, so memory shrinks as sets come in.
      ::operator delete(static_cast<void*>(chunk));
      allocated_.fetch_sub(c.size, std::memory_order_relaxed);
      c.chunks.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  const std::size_t bytes = chunk_size(cls, size);
  if (!reserve(bytes, limit)) return nullptr;
  void* memory = ::operator new(bytes, std::nothrow);
  if (memory == nullptr) {
    allocated_.fetch_sub(bytes, std::memory_order_relaxed);
  } else if (cls == no_class) {
    plain_chunks_.fetch_add(plain_chunks(size), std::memory_order_relaxed);
  } else {
    classes_[cls - 1].chunks.fetch_add(1, std::memory_order_relaxed);
  }
  return memory;
}

void SlabAllocator::deallocate(void* chunk, std::uint8_t cls, std::size_t size) noexcept {
  if (cls == no_class) {
    ::operator delete(chunk);
    allocated_.fetch_sub(size, std::memory_order_relaxed);
    plain_chunks_.fetch_sub(plain_chunks(size), std::memory_order_relaxed);
    return;
  }
  SizeClass& c = classes_[cls - 1];
  auto* free_chunk = static_cast<FreeChunk*>(chunk);
  poison(chunk, c.size);
  std::lock_guard<std::mutex> lock(c.mutex);
  free_chunk->next = c.head;
  c.head = free_chunk;
  ++c.free_chunks;
}

std::size_t SlabAllocator::trim(std::size_t bytes, std::uint8_t keep) noexcept {
  std::size_t freed = 0;
  // Largest classes first: fewest chunks to free for the room asked.
  for (std::size_t i = count_; i-- > 0 && freed < bytes;) {
    if (i + 1 == keep) continue;
    SizeClass& c = classes_[i];
    FreeChunk* taken = nullptr;
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      while (c.head != nullptr && freed < bytes) {
        FreeChunk* chunk = c.head;
        c.head = chunk->next;
        --c.free_chunks;
        chunk->next = taken;
        taken = chunk;
        freed += c.size;
      }
    }
    // Back to the heap outside the class lock.
    while (taken != nullptr) {
      FreeChunk* next = taken->next;
      unpoison(taken, c.size);
      ::operator delete(static_cast<void*>(taken));
      allocated_.fetch_sub(c.size, std::memory_order_relaxed);
      c.chunks.fetch_sub(1, std::memory_order_relaxed);
      taken = next;
    }
  }
  return freed;
}

std::size_t SlabAllocator::plain_chunks(std::size_t size) const noexcept {
  const std::size_t largest = classes_[count_ - 1].size;
  return (size + largest - 1) / largest;
}

SlabAllocator::ClassMemory SlabAllocator::class_memory(std::uint8_t cls) const noexcept {
  SizeClass& c = classes_[cls - 1];  // the pointer is const here, not the class (its lock is taken)
  ClassMemory m;
  m.chunk_size = c.size;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    m.free_chunks = c.free_chunks;
  }
  m.chunks = c.chunks.load(std::memory_order_relaxed);
  if (cls == count_) m.chunks += plain_chunks_.load(std::memory_order_relaxed);
  m.chunks = std::max(m.chunks, m.free_chunks);  // read apart: never show more free than held
  return m;
}

std::size_t SlabAllocator::free_bytes() const noexcept {
  std::size_t total = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    std::lock_guard<std::mutex> lock(classes_[i].mutex);
    total += classes_[i].free_chunks * classes_[i].size;
  }
  return total;
}

}  // namespace connkit::cache::detail
