#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace connkit::detail {

/// Memory for one outstanding asynchronous operation, so it costs no heap allocation
/// (Asio's associated-allocator mechanism). A request that does not fit, or arrives while
/// the slot is taken, falls back to operator new.
template <std::size_t Size>
class BasicHandlerSlot {
 public:
  static constexpr std::size_t size = Size;

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

/// A connection's slot: a posted resume (the fairness yield or a kick) takes 48 bytes
/// with Boost 1.74.
using HandlerSlot = BasicHandlerSlot<64>;
/// Room for an async_wait on a descriptor (120 bytes with Boost 1.74).
using WaitSlot = BasicHandlerSlot<128>;

/// A standard allocator drawing from one slot.
template <class T, class Slot = HandlerSlot>
class SlotAllocator {
 public:
  using value_type = T;
  explicit SlotAllocator(Slot& slot) noexcept : slot_(&slot) {}
  template <class U>
  SlotAllocator(const SlotAllocator<U, Slot>& other) noexcept : slot_(other.slot()) {}
  template <class U>
  struct rebind {
    using other = SlotAllocator<U, Slot>;
  };

  T* allocate(std::size_t n) { return static_cast<T*>(slot_->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { slot_->deallocate(p); }
  Slot* slot() const noexcept { return slot_; }

  template <class U>
  bool operator==(const SlotAllocator<U, Slot>& o) const noexcept { return slot_ == o.slot(); }
  template <class U>
  bool operator!=(const SlotAllocator<U, Slot>& o) const noexcept { return slot_ != o.slot(); }

 private:
  Slot* slot_;
};

/// A completion handler whose memory comes from a slot.
template <class Handler, class Slot = HandlerSlot>
class SlotBound {
 public:
  using allocator_type = SlotAllocator<Handler, Slot>;
  SlotBound(Slot& slot, Handler h) : slot_(&slot), handler_(std::move(h)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(*slot_); }
  template <class... Args>
  void operator()(Args&&... args) {
    handler_(static_cast<Args&&>(args)...);
  }

 private:
  Slot* slot_;
  Handler handler_;
};

}  // namespace connkit::detail
