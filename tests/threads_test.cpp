// Cross-thread use of one Server, for ThreadSanitizer (the tsan preset) as much as for its
// checks: stats() and connections() read from other threads while four workers open,
// serve and close connections, and stop() called from another thread under load. Client
// threads never call Catch2 (it is not thread-safe): they count their failures.
#include <connkit/server.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/client.hpp"
#include "support/line_server.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using namespace std::chrono_literals;

TEST_CASE("stats() and connections() read from other threads while four workers open, serve and close connections",
          "[loopback][threads]") {
  connkit::Server server(connkit::test::line_options(4));
  server.start();
  constexpr int clients = 4;
  constexpr int cycles = 150;  // connect, one round trip, close
  std::atomic<int> failures{0};
  std::atomic<int> clients_done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < cycles; ++n) {
        try {
          Client c = Client::tcp(server.port());
          if (c.roundtrip("PING\r\n", 6) != "PONG\r\n") ++failures;
        } catch (const std::exception&) {
          ++failures;
        }
      }
      ++clients_done;
    });
  }
  std::atomic<int> bad_rows{0};
  std::atomic<long> reads{0};
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      while (clients_done.load() < clients) {
        const auto stats = server.stats();
        if (stats.workers.size() != 4) ++bad_rows;
        for (const auto& row : server.connections()) {
          if (row.worker >= 4 || row.fd < 0) ++bad_rows;
        }
        ++reads;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(bad_rows.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(eventually([&] { return server.stats().total.curr_conns == 0; }));
  CHECK(server.stats().total.total_conns == clients * cycles);
}

TEST_CASE("stop() from another thread while clients connect and send on four workers", "[loopback][threads][stop]") {
  connkit::Server server(connkit::test::line_options(4));
  server.start();
  const std::uint16_t port = server.port();
  std::atomic<bool> stopping{false};
  std::atomic<int> served{0};
  std::atomic<int> failures_before_stop{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (std::chrono::steady_clock::now() < deadline) {
        const bool stop_seen = stopping.load();
        try {
          Client c = Client::tcp(port);
          if (c.roundtrip("PING\r\n", 6) == "PONG\r\n") {
            ++served;
          } else if (!stop_seen && !stopping.load()) {
            ++failures_before_stop;
          }
        } catch (const std::exception&) {  // refused once the listener is closed
          if (!stop_seen && !stopping.load()) ++failures_before_stop;
        }
        if (stop_seen) break;  // one attempt after the stop, then done
      }
    });
  }
  const bool under_load = eventually([&] { return served.load() >= 100; }, 10000ms);
  std::thread stopper([&] {
    stopping = true;
    server.stop();
  });
  stopper.join();
  server.join();
  for (auto& t : clients) t.join();
  CHECK(under_load);
  CHECK(server.stopped());
  CHECK(failures_before_stop.load() == 0);
  CHECK(server.stats().total.curr_conns == 0);
}
