// IncomingValue and ValueStaging on their own (lib/cache/incoming_value.hpp): a value already
// buffered goes straight into a store item; one still arriving waits in staging memory,
// charged to the endpoint-wide bound, and takes store memory only once complete.
#include "cache/incoming_value.hpp"

#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

namespace cache = connkit::cache;
using cache::detail::IncomingValue;
using cache::detail::ValueStaging;
using Begin = IncomingValue::Begin;

namespace {

constexpr std::int64_t start_time = 1700000000;

cache::StoreOptions options(std::size_t memory, std::int64_t* now, std::size_t item_max = 256u << 10) {
  cache::StoreOptions so;
  so.memory_limit = memory;
  so.item_size_max = item_max;
  so.shards = 1;
  so.clock = [now] { return *now; };
  return so;
}

/// Writes `bytes` where the caller reads the value (what Action::read_body_into does).
void arrive(IncomingValue& in, std::string_view bytes) {
  REQUIRE(in.destination().size() == bytes.size());
  std::memcpy(in.destination().data(), bytes.data(), bytes.size());
}

std::string text(std::span<const char> bytes) { return {bytes.data(), bytes.size()}; }

/// prefix + i (append() rather than operator+, which trips g++ 12's -Wrestrict).
std::string name(const char* prefix, int i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

bool put(cache::Store& store, const std::string& key, std::size_t size) {
  return store.set(key, std::string(size, 'v')) == cache::StoreResult::stored;
}

}  // namespace

TEST_CASE("a value already buffered goes straight into a store item, with no staging", "[store][staging]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  ValueStaging staging(1u << 20);
  IncomingValue in;
  REQUIRE(in.begin(store, staging, "k", 7, 100, 5, 2, 7) == Begin::ready);
  CHECK_FALSE(in.staged());
  CHECK(staging.held() == 0);
  CHECK(store.stats().total_malloced > 0);  // the item, allocated at once
  arrive(in, "hello\r\n");
  const cache::ItemRef item = in.finish(store);
  REQUIRE(item);
  CHECK(item->key() == "k");
  CHECK(item->flags() == 7);
  CHECK(item->exptime() == start_time + 100);
  CHECK(text(item->value_with_crlf()) == "hello\r\n");
  CHECK(in.destination().empty());
  CHECK(store.store(item, cache::StoreMode::set) == cache::StoreResult::stored);
  CHECK(text(store.get("k")->value()) == "hello");
}

TEST_CASE("a value still arriving is staged and takes store memory only in finish", "[store][staging]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  ValueStaging staging(1u << 20);
  IncomingValue in;
  REQUIRE(in.begin(store, staging, "key", 3, 10, 5, 2, 6) == Begin::ready);  // one byte short
  CHECK(in.staged());
  CHECK(staging.held() == 7);
  CHECK(store.stats().total_malloced == 0);
  arrive(in, "world\r\n");
  now += 5;  // the expiry counts from the header, as memcached's
  const cache::ItemRef item = in.finish(store);
  REQUIRE(item);
  CHECK(staging.held() == 0);
  CHECK(item->key() == "key");
  CHECK(item->flags() == 3);
  CHECK(item->exptime() == start_time + 10);
  CHECK(text(item->value_with_crlf()) == "world\r\n");
  CHECK(store.store(item, cache::StoreMode::set) == cache::StoreResult::stored);
  now += 5;
  CHECK_FALSE(store.get("key"));
}

TEST_CASE("a staged value evicts nothing until it is complete", "[store][staging]") {
  std::int64_t now = start_time;
  // Room for exactly ten items of about 200 bytes (class of 240).
  cache::Store store(options(10 * 240, &now));
  for (int i = 0; i < 10; ++i) REQUIRE(put(store, name("live", i), 100));
  ValueStaging staging(1u << 20);
  std::vector<IncomingValue> stalled(20);
  for (IncomingValue& in : stalled) REQUIRE(in.begin(store, staging, "big", 0, 0, 100, 2, 0) == Begin::ready);
  CHECK(staging.held() == 20 * 102);
  CHECK(store.stats().evictions == 0);
  for (int i = 0; i < 10; ++i) CHECK(store.get(name("live", i)));
  // Complete: now it needs room, and evicts for it.
  arrive(stalled[0], std::string(100, 'b') + "\r\n");
  const cache::ItemRef item = stalled[0].finish(store);
  REQUIRE(item);
  CHECK(store.stats().evictions == 1);
  CHECK(staging.held() == 19 * 102);
  for (IncomingValue& in : stalled) in.reset();
  CHECK(staging.held() == 0);
}

TEST_CASE("past the staging limit a value is refused and counted, and reset gives bytes back", "[store][staging]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  ValueStaging staging(2500);
  IncomingValue a, b, c;
  REQUIRE(a.begin(store, staging, "a", 0, 0, 1000, 2, 10) == Begin::ready);
  REQUIRE(b.begin(store, staging, "b", 0, 0, 1000, 2, 0) == Begin::ready);
  CHECK(staging.held() == 2004);
  CHECK(c.begin(store, staging, "c", 0, 0, 1000, 2, 0) == Begin::no_memory);
  CHECK(staging.refused() == 1);
  CHECK(c.destination().empty());
  CHECK(staging.held() == 2004);
  // A value already buffered needs no staging: it is not refused.
  CHECK(c.begin(store, staging, "c", 0, 0, 1000, 2, 1002) == Begin::ready);
  CHECK_FALSE(c.staged());
  c.reset();
  a.reset();
  CHECK(staging.held() == 1002);
  // A new begin() drops what the last one held.
  REQUIRE(b.begin(store, staging, "b", 0, 0, 10, 2, 0) == Begin::ready);
  CHECK(staging.held() == 12);
  {
    IncomingValue dropped;  // a connection closed mid-value: the destructor gives back
    REQUIRE(dropped.begin(store, staging, "d", 0, 0, 100, 2, 0) == Begin::ready);
    CHECK(staging.held() == 114);
  }
  CHECK(staging.held() == 12);
  CHECK(staging.limit() == 2500);
}

TEST_CASE("too large values are refused before any memory is taken", "[store][staging]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now, 4096));
  ValueStaging staging(1u << 20);
  IncomingValue in;
  CHECK(in.begin(store, staging, "k", 0, 0, 4096, 2, 0) == Begin::too_large);
  CHECK(in.begin(store, staging, "k", 0, 0, 4096, 2, 5000) == Begin::too_large);
  CHECK(staging.held() == 0);
  CHECK(staging.refused() == 0);
  CHECK(store.stats().total_malloced == 0);
  CHECK(in.destination().empty());
}

TEST_CASE("finish answers null when the store has no room, and releases the staged bytes", "[store][staging]") {
  std::int64_t now = start_time;
  cache::Store store(options(10 * 240, &now));
  ValueStaging staging(1u << 20);
  IncomingValue in;
  REQUIRE(in.begin(store, staging, "late", 0, 0, 100, 2, 0) == Begin::ready);
  // Meanwhile the store fills with items only unfinished sets hold: nothing to evict.
  std::vector<cache::ItemRef> held;
  for (int i = 0; i < 10; ++i) held.push_back(store.allocate(name("held", i), 0, 0, 100));
  for (const cache::ItemRef& r : held) REQUIRE(r);
  arrive(in, std::string(100, 'x') + "\r\n");
  CHECK_FALSE(in.finish(store));
  CHECK(staging.held() == 0);
  CHECK(in.destination().empty());
}

TEST_CASE("binary values have no terminator and still get the \"\\r\\n\" replies send", "[store][staging]") {
  std::int64_t now = start_time;
  cache::Store store(options(1u << 20, &now));
  ValueStaging staging(1u << 20);
  IncomingValue in;
  for (const std::size_t available : {std::size_t{0}, std::size_t{3}}) {
    REQUIRE(in.begin(store, staging, "bin", 0, 0, 3, 0, available) == Begin::ready);
    CHECK(in.staged() == (available == 0));
    arrive(in, "abc");
    const cache::ItemRef item = in.finish(store);
    REQUIRE(item);
    CHECK(text(item->value_with_crlf()) == "abc\r\n");
  }
  // An empty value is always complete.
  REQUIRE(in.begin(store, staging, "empty", 0, 0, 0, 0, 0) == Begin::ready);
  CHECK_FALSE(in.staged());
  CHECK(text(in.finish(store)->value_with_crlf()) == "\r\n");
}

TEST_CASE("small staged values reuse one buffer, large ones get their own", "[store][staging]") {
  std::int64_t now = start_time;
  cache::Store store(options(4u << 20, &now, 1u << 20));
  ValueStaging staging(8u << 20);
  IncomingValue in;
  REQUIRE(in.begin(store, staging, "k", 0, 0, 5000, 2, 0) == Begin::ready);
  const char* small = in.destination().data();
  arrive(in, std::string(5000, 's') + "\r\n");
  REQUIRE(in.finish(store));
  REQUIRE(in.begin(store, staging, "k", 0, 0, 300, 2, 0) == Begin::ready);
  CHECK(in.destination().data() == small);
  arrive(in, std::string(300, 't') + "\r\n");
  REQUIRE(in.finish(store));
  // 100 KiB: a buffer of its own, the whole value charged, freed after use.
  const std::size_t large = 100u << 10;
  REQUIRE(in.begin(store, staging, "k", 0, 0, large, 2, 4000) == Begin::ready);
  CHECK(in.destination().data() != small);
  CHECK(staging.held() == large + 2);
  std::string value(large, 'L');
  value[12345] = 'x';
  arrive(in, value + "\r\n");
  const cache::ItemRef item = in.finish(store);
  REQUIRE(item);
  CHECK(text(item->value()) == value);
  CHECK(staging.held() == 0);
  // The small buffer outlived the large value.
  REQUIRE(in.begin(store, staging, "k", 0, 0, 16, 2, 0) == Begin::ready);
  CHECK(in.destination().data() == small);
  in.reset();
}
