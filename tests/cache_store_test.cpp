// The cache store on its own: item memory in size classes under the memory limit, and
// memcached's throttled LRU bump.
#include <connkit/cache/store.hpp>

#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace cache = connkit::cache;

namespace {

constexpr std::int64_t start_time = 1700000000;

cache::StoreOptions options(std::size_t memory, std::int64_t* now, unsigned shards = 16) {
  cache::StoreOptions so;
  so.memory_limit = memory;
  so.item_size_max = 256u << 10;
  so.shards = shards;
  so.clock = [now] { return *now; };
  return so;
}

/// set `key` to `value`; true if stored.
bool put(cache::Store& store, const std::string& key, const std::string& value) {
  cache::ItemRef item = store.allocate(key, 0, 0, value.size());
  if (!item) return false;
  std::memcpy(item->value_with_crlf().data(), value.data(), value.size());
  std::memcpy(item->value_with_crlf().data() + value.size(), "\r\n", 2);
  return store.store(item, cache::StoreMode::set) == cache::StoreResult::stored;
}

/// prefix + i (append() rather than operator+, which trips g++ 12's -Wrestrict).
std::string name(const char* prefix, int i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

bool present(cache::Store& store, const std::string& key) { return static_cast<bool>(store.get(key)); }

std::string value_of(cache::Store& store, const std::string& key) {
  const cache::ItemRef item = store.get(key);
  return item ? std::string(item->value().data(), item->value().size()) : std::string("<missing>");
}

}  // namespace

TEST_CASE("overwrites within one size class reuse the freed item's memory", "[cache][store]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  REQUIRE(put(store, "k", std::string(100, 'a')));
  REQUIRE(put(store, "k", std::string(100, 'b')));
  const auto held = store.stats().total_malloced;
  // Items of 199 to 238 bytes: one size class (192 < size <= 240), so one freed chunk serves.
  for (int i = 0; i < 1000; ++i) REQUIRE(put(store, "k", std::string(100 + i % 40, 'c')));
  CHECK(store.stats().total_malloced == held);
  CHECK(store.stats().bytes == sizeof(cache::Item) + 1 + 100 + 999 % 40 + 2);
}

TEST_CASE("free chunks count against the memory limit and give way to other sizes", "[cache][store]") {
  std::int64_t now = start_time;
  const std::size_t limit = 1u << 20;
  cache::Store store(options(limit, &now));
  int stored = 0;
  while (store.stats().evictions == 0 && stored < 100000) {
    REQUIRE(put(store, name("small:", stored), std::string(100, 's')));
    ++stored;
  }
  CHECK(store.stats().total_malloced <= limit);
  for (int i = 0; i < stored; ++i) store.remove(name("small:", i));
  // Every item is gone, their chunks wait on a free list: held, not live.
  CHECK(store.stats().bytes == 0);
  CHECK(store.stats().total_malloced > limit / 2);
  const auto evictions = store.stats().evictions;
  for (int i = 0; i < 9; ++i) {
    REQUIRE(put(store, name("large:", i), std::string(100000, 'L')));
    CHECK(store.stats().total_malloced <= limit);
  }
  CHECK(store.stats().evictions == evictions);  // the free small chunks made the room
  CHECK(value_of(store, "large:0") == std::string(100000, 'L'));
}

TEST_CASE("a hit moves an item to the LRU head only when its last move is over a minute old", "[cache][store]") {
  std::int64_t now = start_time;
  // One shard, room for exactly ten items of one class (about 200 bytes, class of 240).
  cache::Store store(options(10 * 240, &now, 1));
  const std::string value(100, 'v');
  for (int i = 0; i < 10; ++i) REQUIRE(put(store, name("k", i), value));
  REQUIRE(store.stats().evictions == 0);

  now += 30;
  CHECK(present(store, "k0"));  // stored 30 s ago: the hit does not move it
  REQUIRE(put(store, "k10", value));
  CHECK_FALSE(present(store, "k0"));  // so it was still the LRU tail
  CHECK(store.stats().evictions == 1);

  now += 31;
  CHECK(present(store, "k1"));  // stored 61 s ago: moved to the head
  REQUIRE(put(store, "k11", value));
  CHECK(present(store, "k1"));
  CHECK_FALSE(present(store, "k2"));
}

TEST_CASE("append and incr at the memory limit make room by eviction", "[cache][store]") {
  std::int64_t now = start_time;
  cache::Store store(options(10 * 240, &now, 1));
  for (int i = 0; i < 10; ++i) REQUIRE(put(store, name("k", i), std::string(100, 'v')));
  cache::ItemRef tail = store.allocate("k9", 0, 0, 3);
  REQUIRE(tail);
  std::memcpy(tail->value_with_crlf().data(), "end\r\n", 5);
  CHECK(store.store(tail, cache::StoreMode::append) == cache::StoreResult::stored);
  CHECK(value_of(store, "k9") == std::string(100, 'v') + "end");
  CHECK(store.stats().total_malloced <= 10 * 240);
  REQUIRE(put(store, "n", "99"));
  const cache::ArithOutcome incremented = store.arithmetic("n", cache::ArithRequest{});
  CHECK(incremented.result == cache::ArithResult::ok);  // a longer number: a new item
  CHECK(incremented.value == 100);
  CHECK(value_of(store, "n") == "100");
  CHECK(store.stats().total_malloced <= 10 * 240);
}

TEST_CASE("set and store copy a host's value and add the \"\\r\\n\" replies send", "[cache][store]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  CHECK(store.set("k", "hello", 42, 100) == cache::StoreResult::stored);
  cache::ItemRef item = store.get("k");
  REQUIRE(item);
  CHECK(std::string(item->value_with_crlf().data(), item->value_with_crlf().size()) == "hello\r\n");
  CHECK(item->flags() == 42);
  CHECK(item->exptime() == start_time + 100);  // absolute_exptime()'s rules
  CHECK(store.set("e", "") == cache::StoreResult::stored);
  CHECK(std::string(store.get("e")->value_with_crlf().data(), 2) == "\r\n");
  CHECK(store.set("gone", "x", 0, -1) == cache::StoreResult::stored);  // negative: already expired
  CHECK_FALSE(store.get("gone"));

  CHECK(store.store("k", "x", cache::StoreMode::add) == cache::StoreResult::not_stored);
  CHECK(store.store("new", "x", cache::StoreMode::replace) == cache::StoreResult::not_stored);
  CHECK(store.store("new", "x", cache::StoreMode::add) == cache::StoreResult::stored);
  CHECK(store.store("new", "yz", cache::StoreMode::replace, 5) == cache::StoreResult::stored);
  CHECK(store.store("new", "!", cache::StoreMode::append, 9, 1) == cache::StoreResult::stored);
  CHECK(value_of(store, "new") == "yz!");
  CHECK(store.get("new")->flags() == 5);  // append keeps the old item's flags and expiry
  CHECK(store.get("new")->exptime() == 0);
  const std::uint64_t unique = store.get("new")->cas();
  CHECK(store.store("new", "c", cache::StoreMode::cas, 0, 0, unique + 1) == cache::StoreResult::exists);
  CHECK(store.store("new", "c", cache::StoreMode::cas, 0, 0, unique) == cache::StoreResult::stored);
  CHECK(store.store("absent", "c", cache::StoreMode::cas, 0, 0, 1) == cache::StoreResult::not_found);
  CHECK(value_of(store, "new") == "c");
}

TEST_CASE("a host's set that cannot be stored says why and takes the old value with it", "[cache][store]") {
  std::int64_t now = start_time;
  cache::Store store(options(10 * 240, &now, 1));
  REQUIRE(store.set("k", "old") == cache::StoreResult::stored);
  const std::string huge(256u << 10, 'h');
  CHECK(store.too_large(1, huge.size()));
  CHECK(store.store("k", huge, cache::StoreMode::replace) == cache::StoreResult::not_stored);
  CHECK(value_of(store, "k") == "old");  // only a set removes it, as memcached's
  CHECK(store.set("k", huge) == cache::StoreResult::not_stored);
  CHECK(value_of(store, "k") == "<missing>");
  CHECK(store.set("", "x") == cache::StoreResult::not_stored);
  CHECK(store.set(std::string(cache::max_key_length + 1, 'k'), "x") == cache::StoreResult::not_stored);
  CHECK(store.set(std::string(cache::max_key_length, 'k'), "x") == cache::StoreResult::stored);

  // No room: every chunk is held by an item nobody linked (sets still arriving).
  store.flush_all(0);
  CHECK(store.reclaim_expired() == 1);
  std::vector<cache::ItemRef> held;
  for (int i = 0; i < 10; ++i) held.push_back(store.allocate(name("held", i), 0, 0, 100));
  for (const cache::ItemRef& r : held) REQUIRE(r);
  CHECK(store.set("k", std::string(100, 'n')) == cache::StoreResult::no_memory);
}

TEST_CASE("bytes counts linked items only, not items held by an unfinished set or a reply", "[cache][store]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  // Allocated, not yet linked: a set whose value is still arriving.
  cache::ItemRef pending = store.allocate("k", 0, 0, 100);
  REQUIRE(pending);
  CHECK(store.stats().bytes == 0);
  CHECK(store.stats().total_malloced > 0);
  std::memcpy(pending->value_with_crlf().data(), std::string(100, 'a').append("\r\n").data(), 102);
  REQUIRE(store.store(pending, cache::StoreMode::set) == cache::StoreResult::stored);
  const std::size_t first = pending->total_size();
  CHECK(store.stats().bytes == first);
  pending.reset();

  // A reply in flight holds the item (get's ItemRef stands for Item::owner()).
  cache::ItemRef reply = store.get("k");
  REQUIRE(reply);
  REQUIRE(store.set("k", std::string(300, 'b')) == cache::StoreResult::stored);  // overwrite
  const std::size_t second = store.get("k")->total_size();
  CHECK(second != first);
  CHECK(store.stats().bytes == second);
  CHECK(store.remove("k"));
  CHECK(store.stats().bytes == 0);
  CHECK(store.stats().curr_items == 0);
  const auto held = store.stats().total_malloced;
  CHECK(held >= first);  // the reply's item still holds its chunk...
  reply.reset();
  CHECK(store.stats().bytes == 0);  // ...and dropping it changes no live count
  CHECK(store.stats().total_malloced == held);  // (its chunk goes onto a free list)
}

TEST_CASE("bytes follows append, incr into a new item, eviction and expiry", "[cache][store]") {
  std::int64_t now = start_time;
  cache::Store store(options(10 * 240, &now, 1));
  std::vector<std::string> keys{"a", "b"};
  for (int i = 0; i < 20; ++i) keys.push_back(name("k", i));
  auto sum_of_live = [&] {
    std::uint64_t sum = 0;
    for (const std::string& k : keys) {
      if (const cache::ItemRef item = store.get(k)) sum += item->total_size();
    }
    return sum;
  };
  REQUIRE(store.set("a", "1") == cache::StoreResult::stored);
  REQUIRE(store.store("a", "23", cache::StoreMode::append) == cache::StoreResult::stored);
  cache::ArithRequest add900;
  add900.delta = 900;
  REQUIRE(store.arithmetic("a", add900).result == cache::ArithResult::ok);  // 123 -> 1023: longer, a new item
  REQUIRE(store.set("b", "x", 0, 10) == cache::StoreResult::stored);
  CHECK(store.stats().bytes == sum_of_live());
  now += 10;
  CHECK_FALSE(store.get("b"));  // expired, unlinked on the way
  CHECK(store.stats().bytes == sum_of_live());
  for (int i = 0; i < 20; ++i) REQUIRE(store.set(name("k", i), std::string(100, 'v')) == cache::StoreResult::stored);
  CHECK(store.stats().evictions > 0);
  CHECK(store.stats().bytes == sum_of_live());
}

TEST_CASE("a stored item reports the CAS of what was linked, the joined item's after append and prepend",
          "[cache][store]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  REQUIRE(put(store, "k", "mid"));
  for (const cache::StoreMode mode : {cache::StoreMode::append, cache::StoreMode::prepend}) {
    cache::ItemRef part = store.allocate("k", 0, 0, 1);
    REQUIRE(part);
    std::memcpy(part->value_with_crlf().data(), "+\r\n", 3);
    REQUIRE(store.store(part, mode) == cache::StoreResult::stored);
    const cache::ItemRef linked = store.get("k");
    REQUIRE(linked);
    CHECK(linked.get() != part.get());  // a new item holds both values
    CHECK(part->cas() == linked->cas());
    CHECK(part->cas() != 0);
  }
  CHECK(value_of(store, "k") == "+mid+");
}
