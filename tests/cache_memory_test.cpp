// Item memory seen from clients: values held by a reply still being sent or by a set still
// arriving, and what `stats bytes` counts meanwhile.
#include <connkit/cache/endpoint.hpp>

#include <cstddef>
#include <string>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"

using connkit::test::CacheFixture;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::exchange;

namespace {

using namespace std::chrono_literals;

/// "set <key> 0 0 <size>\r\n<value>\r\n"
std::string set_request(const std::string& key, const std::string& value) {
  std::string s("set ");
  s.append(key).append(" 0 0 ").append(std::to_string(value.size())).append("\r\n").append(value).append("\r\n");
  return s;
}

}  // namespace

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
