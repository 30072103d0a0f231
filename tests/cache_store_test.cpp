// The cache store on its own: item memory in size classes under the memory limit, and
// memcached's throttled LRU bump.
#include <connkit/cache/store.hpp>

#include <cstring>
#include <string>

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
  std::uint64_t result = 0;
  REQUIRE(put(store, "n", "99"));
  CHECK(store.arithmetic("n", true, 1, result) == cache::ArithResult::ok);  // a longer number: a new item
  CHECK(result == 100);
  CHECK(value_of(store, "n") == "100");
  CHECK(store.stats().total_malloced <= 10 * 240);
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
