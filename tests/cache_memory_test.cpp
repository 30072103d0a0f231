// Item memory seen from clients: values on their way in (staged outside the store until
// complete, lib/cache/incoming_value.hpp) and values on their way out (held by a reply still
// being sent), and what `stats bytes` counts meanwhile.
#include <connkit/cache/endpoint.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"

using connkit::test::CacheFixture;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::exchange;
using connkit::test::recv_line;

namespace {

using namespace std::chrono_literals;

/// prefix + i (append() rather than operator+, which trips g++ 12's -Wrestrict).
std::string name(const char* prefix, std::size_t i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

/// "set <key> 0 0 <size>\r\n<value>\r\n"
std::string set_request(const std::string& key, const std::string& value) {
  std::string s("set ");
  s.append(key).append(" 0 0 ").append(std::to_string(value.size())).append("\r\n").append(value).append("\r\n");
  return s;
}

/// `text` repeated `n` times.
std::string repeat(std::string_view text, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.append(text);
  return s;
}

/// Value lines of a get of keys prefix+first .. prefix+first+count-1, each holding `value`.
std::string hits(const char* prefix, std::size_t first, std::size_t count, const std::string& value) {
  std::string s;
  for (std::size_t i = first; i < first + count; ++i) {
    s.append("VALUE ").append(name(prefix, i)).append(" 0 ").append(std::to_string(value.size())).append("\r\n");
    s.append(value).append("\r\n");
  }
  return s;
}

}  // namespace

TEST_CASE("clients stalled inside 1 MB values neither evict live items nor starve other clients",
          "[cache][staging][eviction]") {
  // The fuzzer's case: -m 64, 80 clients declare 1 MB values and stall; memcached evicted
  // none of 1,000 live small items and went on storing a well-behaved client's sets.
  CacheFixture f(64u << 20, 1u << 20);
  Client loader = f.client();
  const std::string small(100, 's');
  std::string batch;
  for (std::size_t i = 0; i < 1000; ++i) batch += set_request(name("live:", i), small);
  REQUIRE(exchange(loader, batch, 8 * 1000) == repeat("STORED\r\n", 1000));
  const std::uint64_t live_bytes = f.store->stats().bytes;

  // One client at a time, so each is known to be staged or refused.
  constexpr std::size_t value_size = 1000000;
  constexpr std::size_t clients = 80;
  const std::uint64_t limit = f.endpoint->staging_stats().max_staged_bytes;
  const auto fit = static_cast<std::size_t>(limit / (value_size + 2));
  REQUIRE(fit < clients);  // the default limit refuses some: that path is part of the case
  std::vector<Client> stalled;
  std::vector<std::size_t> staged, refused;
  for (std::size_t i = 0; i < clients; ++i) {
    const std::uint64_t refused_before = f.endpoint->staging_stats().staged_refused;
    stalled.push_back(f.client());
    REQUIRE(stalled.back().send_all(name("set big:", i) + " 0 0 1000000\r\n" + std::string(10, 'b')));
    REQUIRE(eventually([&] {
      const connkit::cache::StagingStats s = f.endpoint->staging_stats();
      return s.staged_bytes / (value_size + 2) + s.staged_refused == i + 1;
    }));
    (f.endpoint->staging_stats().staged_refused > refused_before ? refused : staged).push_back(i);
  }
  CHECK(staged.size() == fit);
  for (std::size_t i : refused) CHECK(recv_line(stalled[i]) == "SERVER_ERROR out of memory storing object\r\n");
  CHECK(f.endpoint->command_stats().store_no_memory == clients - fit);

  // The stalled values took nothing from the store.
  CHECK(f.store->stats().evictions == 0);
  CHECK(f.store->stats().curr_items == 1000);
  CHECK(f.store->stats().bytes == live_bytes);
  CHECK(f.store->stats().total_malloced < (1u << 20));

  // A well-behaved client's 1 KB sets store, and every live item is still there.
  Client good = f.client();
  const std::string kilobyte(1024, 'g');
  batch.clear();
  for (std::size_t i = 0; i < 100; ++i) batch += set_request(name("good:", i), kilobyte);
  CHECK(exchange(good, batch, 8 * 100) == repeat("STORED\r\n", 100));
  for (std::size_t first = 0; first < 1000; first += 100) {
    std::string get("get");
    for (std::size_t i = first; i < first + 100; ++i) get.append(" ").append(name("live:", i));
    get.append("\r\n");
    const std::string expected = hits("live:", first, 100, small) + "END\r\n";
    CHECK(exchange(good, get, expected.size()) == expected);
  }
  CHECK(f.store->stats().evictions == 0);

  // A stalled value, completed, is stored like any other.
  REQUIRE_FALSE(staged.empty());
  const std::string key = name("big:", staged.front());
  CHECK(exchange(stalled[staged.front()], std::string(value_size - 10, 'b') + "\r\n", 8) == "STORED\r\n");
  const connkit::cache::ItemRef big = f.store->get(key);
  REQUIRE(big);
  CHECK(big->value().size() == value_size);
  CHECK(f.endpoint->staging_stats().staged_bytes == (fit - 1) * (value_size + 2));

  // Clients that give up give their staged bytes back.
  stalled.clear();
  CHECK(eventually([&] { return f.endpoint->staging_stats().staged_bytes == 0; }));
  CHECK(f.store->stats().curr_items == 1000 + 100 + 1);
}

TEST_CASE("stats bytes leaves out values held only by a reply in flight or a set still arriving",
          "[cache][stats]") {
  CacheFixture f(64u << 20, 16u << 20);
  Client writer = f.client();

  // A set whose value is still arriving holds no live bytes.
  Client slow = f.client();
  REQUIRE(slow.send_all("set slow 0 0 100\r\nabc"));
  REQUIRE(eventually([&] { return f.server->stats().total.bytes_read >= 21; }));
  CHECK(connkit::test::stats_reply(writer, "stats\r\n").find("STAT bytes 0\r\n") != std::string::npos);

  // An 8 MiB value: more than the kernel buffers between the server and a reader whose
  // receive buffer is 4 KiB (the server's send buffer grows to 4 MiB at most), so the get's
  // reply is still being sent, holding the item, until the reader drains it.
  const std::string value(8u << 20, 'r');
  REQUIRE(exchange(writer, set_request("big", value), 8) == "STORED\r\n");
  const std::uint64_t big_bytes = f.store->stats().bytes;
  CHECK(big_bytes > value.size());
  Client reader = Client::tcp(f.server->port(), "127.0.0.1", 4096);
  REQUIRE(reader.send_all("get big\r\n"));
  REQUIRE(eventually([&] { return f.endpoint->command_stats().get_hits == 1; }));

  SECTION("after a delete") {
    EXPECT_REPLY(writer, "delete big\r\n", "DELETED\r\n");
    CHECK(f.store->stats().bytes == 0);
    CHECK(connkit::test::stats_reply(writer, "stats\r\n").find("STAT bytes 0\r\n") != std::string::npos);
  }
  SECTION("after an overwrite") {
    EXPECT_REPLY(writer, "set big 0 0 5\r\nsmall\r\n", "STORED\r\n");
    CHECK(f.store->stats().bytes == f.store->get("big")->total_size());
  }
  // The reply still holds the old item: an item this large has a chunk of its own, freed
  // the moment its last reference goes, so it is still allocated only because of the reply.
  CHECK(f.store->stats().total_malloced >= value.size());
  CHECK(f.store->stats().bytes < value.size());

  const std::string header = "VALUE big 0 " + std::to_string(value.size()) + "\r\n";
  CHECK(reader.recv_n(header.size()) == header);
  CHECK(reader.recv_n(value.size() + 7, 30000ms) == value + "\r\nEND\r\n");
  CHECK(eventually([&] { return f.store->stats().total_malloced < value.size(); }));
}
