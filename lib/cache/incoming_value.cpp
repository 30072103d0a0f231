#include "incoming_value.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

#include "item.hpp"

namespace connkit::cache::detail {

bool ValueStaging::reserve(std::size_t n) noexcept {
  // A compare-exchange, not an add and a check: two workers at the limit cannot both pass.
  std::size_t held = held_.load(std::memory_order_relaxed);
  do {
    if (n > limit_ || held > limit_ - n) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!held_.compare_exchange_weak(held, held + n, std::memory_order_relaxed));
  return true;
}

IncomingValue::Begin IncomingValue::begin(Store& store, ValueStaging& staging, std::string_view key,
                                          std::uint32_t flags, std::int64_t exptime, std::size_t value_size,
                                          std::size_t terminator, std::size_t available) {
  drop_value();
  key_size_ = 0;
  const std::size_t total = value_size + terminator;
  if (store.too_large(key.size(), value_size)) return Begin::too_large;
  if (key.empty() || key.size() > max_key_length) return Begin::no_memory;
  if (available >= total) {
    // All here: straight into the item, as memcached reads into item memory.
    item_ = store.allocate(key, flags, exptime, value_size);
    if (!item_) return Begin::no_memory;
    dest_ = item_->value_with_crlf().data();
    dest_size_ = total;
    keep_key(key);
    return Begin::ready;
  }
  if (!staging.reserve(total)) return Begin::no_memory;
  char* buffer = nullptr;
  if (total <= small_staging_capacity) {
    if (small_capacity_ < total) {
      // Grown to a power of two, so a connection's buffer settles after a few sizes.
      const std::size_t capacity = std::min(small_staging_capacity, std::bit_ceil(std::max<std::size_t>(total, 1024)));
      small_.reset(new (std::nothrow) char[capacity]);
      small_capacity_ = small_ ? capacity : 0;
    }
    buffer = small_.get();
  } else {
    large_.reset(new (std::nothrow) char[total]);  // uninitialised: pages are touched as bytes arrive
    buffer = large_.get();
  }
  if (buffer == nullptr) {
    staging.release(total);
    return Begin::no_memory;
  }
  staging_ = &staging;
  staged_size_ = total;
  dest_ = buffer;
  dest_size_ = total;
  value_size_ = value_size;
  flags_ = flags;
  exptime_ = store.absolute_exptime(exptime);  // now, as memcached, not when the value is complete
  keep_key(key);
  return Begin::ready;
}

void IncomingValue::keep_key(std::string_view key) noexcept {
  key_size_ = static_cast<std::uint8_t>(key.size());
  std::memcpy(key_, key.data(), key.size());
}

ItemRef IncomingValue::finish(Store& store) {
  ItemRef item;
  if (staged()) {
    // The value is complete: only now does it take store memory (and may evict for it).
    item = store.allocate(std::string_view(key_, key_size_), flags_, 0, value_size_);
    if (item) {
      header(*item).exptime.store(exptime_, std::memory_order_relaxed);
      if (value_size_ != 0) std::memcpy(item->value().data(), dest_, value_size_);
    }
  } else {
    item = std::move(item_);
  }
  if (item) std::memcpy(item->value_with_crlf().data() + item->value().size(), "\r\n", 2);
  drop_value();
  return item;
}

void IncomingValue::drop_value() noexcept {
  item_.reset();
  if (staged_size_ != 0) {
    staging_->release(staged_size_);
    staged_size_ = 0;
  }
  large_.reset();
  dest_ = nullptr;
  dest_size_ = 0;
}

void IncomingValue::reset() noexcept {
  drop_value();
  key_size_ = 0;
  small_.reset();
  small_capacity_ = 0;
}

}  // namespace connkit::cache::detail
