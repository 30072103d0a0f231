// Zero heap allocations per request in steady state, counted by support/count_allocations.hpp.
// Its own executable: the counting replaces global operator new for the whole process.
#include "support/count_allocations.hpp"

#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "support/client.hpp"
#include "support/deferred_handler.hpp"
#include "support/line_server.hpp"

using connkit::test::allocations;
using connkit::test::Client;

namespace {

/// Sends `request` and checks `reply` comes back, `rounds` times; counts mismatches.
long exchange(Client& c, const std::string& request, const std::string& reply, int rounds) {
  char buf[8192];
  long bad = 0;
  for (int i = 0; i < rounds; ++i) {
    std::size_t got = 0;
    if (!c.send_all(request) || !c.recv_exact(buf, reply.size(), got) ||
        std::memcmp(buf, reply.data(), reply.size()) != 0) {
      ++bad;
    }
  }
  return bad;
}

}  // namespace

TEST_CASE("steady-state requests make zero heap allocations", "[alloc]") {
  const std::string request = "PING\r\nECHO 5\r\nhello\r\nPUT 3\r\nabc\r\nGET\r\nDROP 2\r\nxx";
  const std::string reply = "PONG\r\nOK 5\r\nhello\r\nSTORED\r\nVALUE 3\r\nabc\r\nDROPPED\r\n";
  std::string pipelined, pipelined_reply;
  for (int i = 0; i < 50; ++i) {  // more than reqs_per_event: the connection yields
    pipelined += "PING\r\n";
    pipelined_reply += "PONG\r\n";
  }
  connkit::Server server(connkit::test::line_options(1));
  server.start();
  Client a = Client::tcp(server.port());
  Client b = Client::tcp(server.port());
  // Warm-up: pools, caches and vectors reach their steady-state sizes.
  REQUIRE(exchange(a, request, reply, 1000) == 0);
  REQUIRE(exchange(b, pipelined, pipelined_reply, 1000) == 0);

  const long before = allocations.load();
  const long bad = exchange(a, request, reply, 2000) + exchange(b, pipelined, pipelined_reply, 200);
  const long after = allocations.load();
  CHECK(bad == 0);
  CHECK(after - before == 0);  // 2000 x 5 requests + 200 x 50 pipelined: 20,000 requests
  CHECK(server.stats().total.conn_yields > 0);
}

TEST_CASE("steady-state deferred requests completed by another thread make zero heap allocations", "[alloc]") {
  connkit::test::ThreadCompleter completer(2);  // its threads and rings exist before counting
  connkit::Server server(connkit::test::deferred_options(completer, 1));
  server.start();
  Client c = Client::tcp(server.port());
  // Two deferred requests around an immediate one, completed out of order by two threads.
  const std::string request = "later aaaa\r\nnow bbbb\r\nlater cccc\r\nsplit dd ee\r\n";
  const std::string reply = "aaaa\r\nbbbb\r\ncccc\r\ndd\r\nmid\r\nee\r\n";
  REQUIRE(exchange(c, request, reply, 1000) == 0);  // warm-up: records, rings, buffers

  const long before = allocations.load();
  const long bad = exchange(c, request, reply, 2000);
  const long after = allocations.load();
  CHECK(bad == 0);
  CHECK(after - before == 0);  // 8,000 deferred requests (handles), 2,000 immediate
  CHECK(server.stats().total.deferred_replies == 3000 * 4);
}
