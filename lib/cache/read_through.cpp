#include "read_through.hpp"

#include <cstring>
#include <functional>

#include "meta_reply.hpp"
#include "text_tokens.hpp"
#include "value_reply.hpp"

namespace connkit::cache {

void LoadCompletion::operator()(const LoadResult& result) const {
  if (!load_ || load_->finished.exchange(true, std::memory_order_acq_rel)) return;
  load_->table.finish(*load_, result);
}

namespace detail {

LoadTable::Shard& LoadTable::shard(std::string_view key) noexcept {
  return shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

void LoadTable::count(std::uint64_t LoadStats::*field) noexcept {
  for (std::size_t i = 0; i < std::size(load_stat_fields); ++i) {
    if (load_stat_fields[i].field == field) counters_[i].fetch_add(1, std::memory_order_relaxed);
  }
}

LoadStats LoadTable::stats() const noexcept {
  LoadStats s;
  for (std::size_t i = 0; i < std::size(load_stat_fields); ++i) {
    s.*(load_stat_fields[i].field) = counters_[i].load(std::memory_order_relaxed);
  }
  return s;
}

void LoadTable::reset_stats() noexcept {
  for (std::atomic<std::uint64_t>& c : counters_) c.store(0, std::memory_order_relaxed);
}

ItemRef LoadTable::await(Connection& conn, std::string_view key, LoadWaiter waiter) {
  Shard& s = shard(key);
  std::shared_ptr<PendingLoad> started;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    const auto it = s.loads.find(std::string(key));
    if (it != s.loads.end()) {
      waiter.reply = conn.defer();
      it->second->waiters.push_back(std::move(waiter));
      count(&LoadStats::coalesced);
      return {};
    }
    // A load stores its item before it leaves the table: one that finished since the
    // caller's miss left the item behind.
    if (ItemRef item = store_.get(key)) return item;
    started = std::make_shared<PendingLoad>(*this, key);
    waiter.reply = conn.defer();
    started->waiters.push_back(std::move(waiter));
    s.loads.emplace(started->key, started);
  }
  count(&LoadStats::started);
  LoadCompletion done(started);
  try {
    options_.loader(started->key, conn.executor(), done);
  } catch (...) {
    LoadResult failed;
    failed.status = LoadResult::Status::failed;
    done(failed);
  }
  return {};
}

void LoadTable::finish(PendingLoad& load, const LoadResult& result) {
  ItemRef item;
  switch (result.status) {
    case LoadResult::Status::found:
      count(&LoadStats::found);
      item = store_.allocate(load.key, result.flags, options_.loaded_ttl.count(), result.value.size());
      if (item) {
        std::memcpy(item->value_with_crlf().data(), result.value.data(), result.value.size());
        std::memcpy(item->value_with_crlf().data() + result.value.size(), "\r\n", 2);
        if (store_.store(item, StoreMode::set) != StoreResult::stored) item.reset();
      }
      if (!item) count(&LoadStats::not_stored);
      break;
    case LoadResult::Status::not_found: count(&LoadStats::not_found); break;
    case LoadResult::Status::failed: count(&LoadStats::failed); break;
    case LoadResult::Status::timed_out: count(&LoadStats::timeouts); break;
  }
  // The item is stored first: a request that misses from now on finds it or this entry.
  std::vector<LoadWaiter> waiters;
  {
    Shard& s = shard(load.key);
    std::lock_guard<std::mutex> lock(s.mutex);
    const auto it = s.loads.find(load.key);
    if (it != s.loads.end() && it->second.get() == &load) s.loads.erase(it);
    waiters.swap(load.waiters);
  }
  const std::int64_t now = store_.now();
  for (LoadWaiter& w : waiters) {
    w.reply.complete_with([&](std::string& out) { compose(out, w, load.key, item.get(), now); });
  }
}

void LoadTable::compose(std::string& out, const LoadWaiter& waiter, std::string_view key, Item* item,
                        std::int64_t now) const {
  if (waiter.form != LoadWaiter::Form::meta) {
    if (item == nullptr) return;  // a get's miss shows only in its END
    char header[value_header_room(max_key_length)];
    const std::uint64_t cas = options_.cas_enabled ? item->cas() : 0;
    const char* end = format_value_header(header, key, item->flags(), item->value().size(),
                                          waiter.form == LoadWaiter::Form::value_cas ? &cas : nullptr);
    out.append(header, static_cast<std::size_t>(end - header));
    const std::span<const char> value = item->value_with_crlf();
    out.append(value.data(), value.size());
    return;
  }
  Tokens t;
  tokenize(waiter.meta_flags, t);
  const std::span<const std::string_view> flags(t.token, t.count - 1);
  MetaLine line;
  if (item != nullptr) {
    // O was checked when the request missed, so composing cannot fail here.
    compose_meta_hit(line, flags, *item, loaded_item_seen(*item, now), now, waiter.meta_value, waiter.key_binary);
    out.append(line.view());
    if (waiter.meta_value) {
      const std::span<const char> value = item->value_with_crlf();
      out.append(value.data(), value.size());
    }
  } else if (!waiter.meta_quiet) {
    compose_meta_miss(line, flags, key, waiter.key_binary);
    out.append(line.view()).append("\r\n");
  }
}

}  // namespace detail
}  // namespace connkit::cache
