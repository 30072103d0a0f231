// Zero heap allocations per request in steady state, counted by support/count_allocations.hpp.
// Its own executable: the counting replaces global operator new for the whole process.
#include "support/count_allocations.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
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

/// A second protocol for a negotiating listener: 0x80, a length byte, that many bytes,
/// echoed back with 0x81 in front (reply_space: no allocation).
class FrameEcho final : public connkit::ProtocolHandler {
 public:
  connkit::Action on_input(connkit::Connection& conn, std::span<const char> in) override {
    if (in.size() < 2) return connkit::Action::need_more();
    const std::size_t size = 2 + std::size_t{static_cast<unsigned char>(in[1])};
    if (in.size() < size) return connkit::Action::need_more();
    const std::span<char> out = conn.reply_space(size);
    std::memcpy(out.data(), in.data(), size);
    out[0] = static_cast<char>(0x81);
    conn.commit_reply(size);
    return connkit::Action::consumed(size);
  }
};

/// Connects, makes one exchange, ends its input and waits for the server's close; counts failures.
long connection_cycle(std::uint16_t port, const std::string& request, const std::string& reply) {
  Client c = Client::tcp(port);
  char buf[64];
  std::size_t got = 0;
  const bool ok = c.send_all(request) && c.recv_exact(buf, reply.size(), got) &&
                  std::memcmp(buf, reply.data(), reply.size()) == 0;
  c.shutdown_write();
  // The server closed (and released the struct: the same worker thread accepts next).
  return ok && c.wait_closed() ? 0 : 1;
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

TEST_CASE("steady-state negotiated connections reuse their struct and handlers: zero heap allocations", "[alloc]") {
  connkit::ServerOptions o = connkit::test::line_options(1);
  // The acceptor runs on the worker's thread (SO_REUSEPORT): no hand-off between threads.
  o.listeners[0].reuse_port = true;
  o.listeners[0].binary_handler = [] { return std::make_unique<FrameEcho>(); };
  connkit::Server server(std::move(o));
  server.start();
  const std::string frame = std::string("\x80\x03" "abc", 5);
  const std::string frame_reply = std::string("\x81\x03" "abc", 5);
  long bad = 0;
  for (int i = 0; i < 200; ++i) {  // warm-up: the struct has made both handlers
    bad += connection_cycle(server.port(), "PING\r\n", "PONG\r\n") + connection_cycle(server.port(), frame, frame_reply);
  }
  REQUIRE(bad == 0);

  const long before = allocations.load();
  for (int i = 0; i < 500; ++i) {  // text, binary, text, ...: each client re-negotiates the struct
    bad += connection_cycle(server.port(), "PING\r\n", "PONG\r\n") + connection_cycle(server.port(), frame, frame_reply);
  }
  const long after = allocations.load();
  CHECK(bad == 0);
  CHECK(after - before == 0);  // 1,000 connections
  CHECK(server.stats().total.conn_structs == 1);
}
