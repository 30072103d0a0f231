#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace connkit::detail {

/// Memory for the one asynchronous operation a connection has outstanding, so waiting
/// costs no heap allocation (Asio's associated-allocator mechanism). A request that does
/// not fit, or arrives while the slot is taken, falls back to operator new.
class HandlerSlot {
 public:
  static constexpr std::size_t size = 128;

  void* allocate(std::size_t n) {
    if (!in_use_ && n <= size) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(n);
  }
  void deallocate(void* p) noexcept {
    if (p == static_cast<void*>(storage_)) {
      in_use_ = false;
    } else {
      ::operator delete(p);
    }
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[size];
  bool in_use_ = false;
};

/// A standard allocator drawing from one HandlerSlot.
template <class T>
class SlotAllocator {
 public:
  using value_type = T;
  explicit SlotAllocator(HandlerSlot& slot) noexcept : slot_(&slot) {}
  template <class U>
  SlotAllocator(const SlotAllocator<U>& other) noexcept : slot_(other.slot()) {}

  T* allocate(std::size_t n) { return static_cast<T*>(slot_->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { slot_->deallocate(p); }
  HandlerSlot* slot() const noexcept { return slot_; }

  template <class U>
  bool operator==(const SlotAllocator<U>& o) const noexcept { return slot_ == o.slot(); }
  template <class U>
  bool operator!=(const SlotAllocator<U>& o) const noexcept { return slot_ != o.slot(); }

 private:
  HandlerSlot* slot_;
};

/// A completion handler whose memory comes from a HandlerSlot.
template <class Handler>
class SlotBound {
 public:
  using allocator_type = SlotAllocator<Handler>;
  SlotBound(HandlerSlot& slot, Handler h) : slot_(&slot), handler_(std::move(h)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(*slot_); }
  template <class... Args>
  void operator()(Args&&... args) {
    handler_(static_cast<Args&&>(args)...);
  }

 private:
  HandlerSlot* slot_;
  Handler handler_;
};

}  // namespace connkit::detail
