#pragma once

// What the store's code alone may do with items: make them, reach their headers, adopt
// references, and give their memory back.

#include <atomic>
#include <cstddef>
#include <type_traits>

#include <connkit/cache/store.hpp>

#include "slabs.hpp"

namespace connkit::cache::detail {

/// The key to Item's and ItemRef's store-only constructors. The public header only declares
/// it, so code that does not include this header cannot make one.
struct StoreAccess {};
inline constexpr StoreAccess store_access{};

// An Item's only member is its ItemHeader, so (standard layout) the two are
// pointer-interconvertible: the store reaches the fields without Item naming it a friend.
static_assert(std::is_standard_layout_v<Item>, "an Item and its ItemHeader share one address");
static_assert(sizeof(Item) == sizeof(ItemHeader));

/// The header of `item`.
inline ItemHeader& header(Item& item) noexcept { return *reinterpret_cast<ItemHeader*>(&item); }
inline const ItemHeader& header(const Item& item) noexcept { return *reinterpret_cast<const ItemHeader*>(&item); }
/// The Item whose header `h` is.
inline Item* item_of(ItemHeader* h) noexcept { return reinterpret_cast<Item*>(h); }

/// A new reference to `h`'s item (the count goes up by one).
inline ItemRef share(ItemHeader* h) noexcept {
  h->refs.fetch_add(1, std::memory_order_relaxed);
  return ItemRef(item_of(h), store_access);
}

/// Where items' memory comes from and goes back to: the size classes. An item points here,
/// so dropping its last reference (ItemRef, anywhere) frees it without reaching into the
/// Store. (The `bytes` stat is not kept here: it counts linked items only, so the shards
/// count it as they link and unlink.)
struct ItemMemory {
  ItemMemory(std::size_t chunk_min, std::size_t item_size_max, double factor)
      : slabs(chunk_min, item_size_max, factor) {}

  SlabAllocator slabs;

  /// Destroys an item whose last reference is gone and gives its chunk back.
  void release(ItemHeader* h) noexcept {
    const std::size_t size = h->total_size();
    const std::uint8_t cls = h->slab_class;
    item_of(h)->~Item();
    slabs.deallocate(h, cls, size);
  }
};

}  // namespace connkit::cache::detail
