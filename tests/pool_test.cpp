// Pooled connections over real sockets: reuse, doubling, failure paths.
#include <connkit/server.hpp>
#include <connkit/testing/fault_injection.hpp>

#include <atomic>
#include <vector>

#include <catch2/catch.hpp>

#include "support/client.hpp"
#include "support/line_server.hpp"

using connkit::test::Client;
using connkit::test::eventually;

TEST_CASE("10,000 sequential connect/close cycles reuse one connection struct", "[loopback][pool]") {
  connkit::Server server(connkit::test::line_options(1));
  server.start();
  char reply[6];
  for (int i = 0; i < 10000; ++i) {
    {
      Client c = Client::tcp(server.port());
      REQUIRE(c.send_all("PING\r\n"));
      std::size_t got = 0;
      REQUIRE(c.recv_exact(reply, sizeof reply, got));
    }
    REQUIRE(eventually([&] { return server.stats().total.curr_conns == 0; }));
  }
  const auto s = server.stats();
  CHECK(s.total.total_conns == 10000);
  CHECK(s.total.conn_structs == 1);
  CHECK(s.total.curr_conns == 0);
}

TEST_CASE("connection structs grow to the peak concurrency and are reused after", "[loopback][pool]") {
  connkit::Server server(connkit::test::line_options(1));
  server.start();
  for (int round = 0; round < 3; ++round) {
    std::vector<Client> clients;
    for (int i = 0; i < 50; ++i) {
      clients.push_back(Client::tcp(server.port()));
      REQUIRE(clients.back().roundtrip("PING\r\n", 6) == "PONG\r\n");
    }
    CHECK(server.stats().total.curr_conns == 50);
    clients.clear();
    REQUIRE(eventually([&] { return server.stats().total.curr_conns == 0; }));
    CHECK(server.stats().total.conn_structs == 50);
  }
}

TEST_CASE("an allocation failure creating a connection refuses that client only", "[loopback][pool]") {
  auto options = connkit::test::line_options(1);
  std::atomic<int> calls{0};
  connkit::Server server(std::move(options));
  connkit::testing::FaultInjection faults;
  faults.fail_connection_alloc = [&calls] { return ++calls == 2; };
  connkit::testing::inject_faults(server, std::move(faults));
  server.start();
  Client first = Client::tcp(server.port());
  CHECK(first.roundtrip("PING\r\n", 6) == "PONG\r\n");
  Client refused = Client::tcp(server.port());
  refused.send_all("PING\r\n");
  CHECK(refused.wait_closed());
  Client third = Client::tcp(server.port());
  CHECK(third.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(first.roundtrip("PING\r\n", 6) == "PONG\r\n");
  const auto s = server.stats();
  CHECK(s.total.malloc_fails == 1);
  CHECK(s.total.curr_conns == 2);
}

TEST_CASE("a connection that fails to register goes back to the pool", "[loopback][pool]") {
  auto options = connkit::test::line_options(1);
  std::atomic<int> calls{0};
  connkit::Server server(std::move(options));
  connkit::testing::FaultInjection faults;
  faults.fail_register = [&calls] { return ++calls == 2; };
  connkit::testing::inject_faults(server, std::move(faults));
  server.start();
  Client first = Client::tcp(server.port());
  CHECK(first.roundtrip("PING\r\n", 6) == "PONG\r\n");
  Client refused = Client::tcp(server.port());
  CHECK(refused.wait_closed());
  CHECK(server.stats().total.conn_structs == 2);  // the struct was made, then returned
  Client third = Client::tcp(server.port());
  CHECK(third.roundtrip("PING\r\n", 6) == "PONG\r\n");
  const auto s = server.stats();
  CHECK(s.total.conn_structs == 2);  // ... and reused for the next client
  CHECK(s.total.curr_conns == 2);
}
