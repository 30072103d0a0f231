// The store's read-modify-write operations: incr/decr and meta arithmetic, meta get and
// meta delete.
#include <connkit/cache/store.hpp>

#include <charconv>
#include <cstring>
#include <mutex>

#include "item.hpp"
#include "store_shard.hpp"

namespace connkit::cache {

using detail::hash_key;
using detail::header;
using detail::item_of;
using detail::ItemHeader;
using detail::share;
using detail::store_access;

namespace {

/// Runs meta's t/T/N/R flags in request order against an item's expiry `e`, as memcached's
/// reply loops do: `t` records e, `T` sets it, `N` sets it on a created item (and wins the
/// token), `R` wins the token if e is set and below the recache time.
struct TtlProgram {
  std::int64_t& e;
  std::int64_t* ttl_at;
  std::size_t seen = 0;

  void run(std::string_view order, std::int64_t ttl, bool created, std::int64_t vivify, bool token_sent,
           std::int64_t recache, bool& won) {
    for (char c : order) {
      switch (c) {
        case 't':
          if (ttl_at != nullptr && seen < max_meta_ttl_flags) ttl_at[seen++] = e;
          break;
        case 'T': e = ttl; break;
        case 'N':
          if (created) {
            e = vivify;
            won = true;
          }
          break;
        case 'R':
          if (!token_sent && !created && e != 0 && e < recache) won = true;
          break;
        default: break;
      }
    }
  }
};

}  // namespace

ItemRef Store::make_number_item(std::string_view key, std::uint32_t flags, std::int64_t exptime_client,
                                std::uint64_t number) {
  char digits[24];
  const auto length = static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, number).ptr - digits);
  ItemRef item = allocate(key, flags, exptime_client, length);
  if (item) {
    std::memcpy(item->value_with_crlf().data(), digits, length);
    std::memcpy(item->value_with_crlf().data() + length, "\r\n", 2);
  }
  return item;
}

ArithOutcome Store::arithmetic(std::string_view key, const ArithRequest& request) {
  ArithOutcome outcome;
  outcome.result = arithmetic(key, request, outcome.value, outcome.item, outcome.created);
  return outcome;
}

ArithResult Store::arithmetic(std::string_view key, const ArithRequest& request, std::uint64_t& result, ItemRef& out,
                              bool& created) {
  const bool increment = request.increment;
  const std::uint64_t delta = request.delta;
  created = false;
  // An item N may need is made before locking: allocation can evict from any shard.
  ItemRef fresh = request.vivify ? make_number_item(key, 0, 0, request.initial) : ItemRef();
  auto finish = [&](ItemHeader* target, bool made) {
    std::int64_t e = target->exptime.load(std::memory_order_relaxed);
    bool won = false;
    TtlProgram program{e, request.ttl_at};
    const std::string_view order = request.order.empty() ? std::string_view("TN") : request.order;
    program.run(order, request.set_ttl ? absolute_exptime(request.ttl) : e, made,
                absolute_exptime(request.vivify_exptime), false, 0, won);
    target->exptime.store(e, std::memory_order_relaxed);
  };
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  ItemRef spare;  // a longer number needs a new item, made outside the lock (see store_joined)
  for (;;) {
    const std::int64_t now = this->now();
    std::unique_lock<std::mutex> lock(shard.mutex);
    ItemHeader* item = find_live_locked(shard, key, hash, now, nullptr);
    if (item == nullptr) {
      if (!request.vivify) return ArithResult::not_found;
      if (!fresh) return ArithResult::no_memory;
      link_new_locked(shard, &header(*fresh), now);
      finish(&header(*fresh), true);
      created = true;
      result = request.initial;
      out = std::move(fresh);
      return ArithResult::ok;
    }
    if (request.has_cas && item->cas.load(std::memory_order_relaxed) != request.cas) return ArithResult::exists;
    // memcached parses the value with strtoull: optional leading blanks, then digits ended by
    // a blank or the "\r\n" that follows every value.
    const std::span<const char> value = item->value();
    if (value.empty()) return ArithResult::non_numeric;
    std::size_t at = 0;
    while (at < value.size() && (value[at] == ' ' || value[at] == '\t')) ++at;
    std::uint64_t current = 0;
    std::size_t digits_seen = 0;
    for (; at < value.size() && value[at] >= '0' && value[at] <= '9'; ++at, ++digits_seen) {
      const std::uint64_t digit = static_cast<std::uint64_t>(value[at] - '0');
      if (current > (UINT64_MAX - digit) / 10) return ArithResult::non_numeric;
      current = current * 10 + digit;
    }
    if (digits_seen == 0 || (at < value.size() && value[at] != ' ' && value[at] != '\t')) {
      return ArithResult::non_numeric;
    }
    result = increment ? current + delta : (delta > current ? 0 : current - delta);  // incr wraps, decr floors
    char digits[24];
    const auto length = static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, result).ptr - digits);
    if (length <= value.size() && item->refs.load(std::memory_order_acquire) == 1) {
      // In place, padded with spaces as memcached does when the number gets shorter; only
      // while the table holds the sole reference, so no reply in flight sees torn digits.
      char* data = item->value().data();
      std::memcpy(data, digits, length);
      std::memset(data + length, ' ', value.size() - length);
      item->cas.store(next_cas_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      finish(item, false);
      out = share(item);
      return ArithResult::ok;
    }
    if (!spare || spare->value().size() != length) {
      lock.unlock();
      spare.reset();
      ItemHeader* memory = new_item(key, length);
      if (memory == nullptr) return ArithResult::no_memory;
      spare = ItemRef(item_of(memory), store_access);
      continue;  // the value may have changed meanwhile: look again
    }
    ItemHeader* replacement = &header(*spare);
    replacement->flags = item->flags;
    replacement->exptime.store(item->exptime.load(std::memory_order_relaxed), std::memory_order_relaxed);
    std::memcpy(replacement->value().data(), digits, length);
    std::memcpy(replacement->value().data() + length, "\r\n", 2);
    unlink_locked(shard, item);
    link_new_locked(shard, replacement, now);
    finish(replacement, false);
    out = std::move(spare);
    return ArithResult::ok;
  }
}

ItemRef Store::meta_get(std::string_view key, const MetaGetRequest& request, MetaGetResult& result, Miss* why) {
  result = MetaGetResult{};
  ItemRef fresh;
  if (request.vivify) {
    fresh = allocate(key, 0, 0, 0);
    if (fresh) std::memcpy(fresh->value_with_crlf().data(), "\r\n", 2);
  }
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const std::int64_t now = this->now();
  std::lock_guard<std::mutex> lock(shard.mutex);
  Miss miss = Miss::missing;
  ItemHeader* item = find_live_locked(shard, key, hash, now, &miss);
  if (item == nullptr && fresh) {
    item = &header(*fresh);
    link_new_locked(shard, item, now);
    result.created = true;
  }
  if (item == nullptr) {
    if (why != nullptr) *why = miss;
    return {};
  }
  result.fetched_before = item->fetched.load(std::memory_order_relaxed);
  result.last_access_before = item->last_access.load(std::memory_order_relaxed);
  std::int64_t e = item->exptime.load(std::memory_order_relaxed);
  TtlProgram program{e, result.ttl_at};
  const std::string_view order = request.order.empty() ? std::string_view("TNR") : request.order;
  program.run(order, request.set_ttl ? absolute_exptime(request.ttl) : e, result.created,
              absolute_exptime(request.vivify_exptime), item->token_sent,
              request.recache ? absolute_exptime(request.recache_ttl) : 0, result.won);
  item->exptime.store(e, std::memory_order_relaxed);
  result.token_was_sent = item->token_sent;
  result.stale = item->stale;
  if (item->stale && !item->token_sent) result.won = true;
  if (result.won) item->token_sent = true;
  if (!request.no_update) note_access_locked(shard, item, now);
  if (why != nullptr) *why = Miss::none;
  return share(item);
}

MetaDeleteResult Store::meta_delete(std::string_view key, const MetaDeleteRequest& request) {
  const auto [has_cas, cas, invalidate, set_ttl, ttl, slab_class] = request;
  const std::uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const std::int64_t now = this->now();
  std::lock_guard<std::mutex> lock(shard.mutex);
  ItemHeader* item = find_live_locked(shard, key, hash, now, nullptr);
  if (item == nullptr) return MetaDeleteResult::not_found;
  if (slab_class != nullptr) *slab_class = item->slab_class;
  if (has_cas && item->cas.load(std::memory_order_relaxed) != cas) return MetaDeleteResult::exists;
  if (invalidate) {
    // Marked stale, not removed: the next meta get wins the token to recache it.
    if (set_ttl) item->exptime.store(absolute_exptime(ttl), std::memory_order_relaxed);
    item->stale = true;
    item->token_sent = false;
    item->cas.store(next_cas_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return MetaDeleteResult::deleted;
  }
  unlink_locked(shard, item);
  return MetaDeleteResult::deleted;
}

}  // namespace connkit::cache
