// Replies that point at memory owned elsewhere (memcached's ilist): the owner's reference
// is held until the bytes are sent, and released when a connection closes with them unsent.
#include <connkit/connection.hpp>
#include <connkit/server.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "support/client.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using namespace std::chrono_literals;

namespace {

/// A value shared by every connection, counted like a cache item.
struct SharedValue {
  std::atomic<int> refs{0};
  std::string bytes = std::string(10000, 'v') + "\r\n";  // 2000 replies: 20 MB, more than socket buffers hold

  static void release(void* self) noexcept { static_cast<SharedValue*>(self)->refs.fetch_sub(1); }
};

/// "GET\r\n" -> the shared value, queued by reference.
class ZeroCopyHandler final : public connkit::ProtocolHandler {
 public:
  explicit ZeroCopyHandler(SharedValue& value) : value_(value) {}
  connkit::Action on_input(connkit::Connection& conn, std::span<const char> input) override {
    if (input.size() < 5) return connkit::Action::need_more();
    value_.refs.fetch_add(1);
    conn.reply_ref(value_.bytes, connkit::BufferOwner{&SharedValue::release, &value_});
    return connkit::Action::consumed(5);
  }

 private:
  SharedValue& value_;
};

connkit::ServerOptions zero_copy_options(SharedValue& value) {
  connkit::ServerOptions o;
  o.threads = 1;
  connkit::ListenerOptions l;
  l.handler = [&value] { return std::make_unique<ZeroCopyHandler>(value); };
  o.listeners.push_back(l);
  return o;
}

}  // namespace

TEST_CASE("borrowed reply bytes stay referenced until sent, then are released", "[loopback][buffers]") {
  SharedValue value;
  connkit::Server server(zero_copy_options(value));
  server.start();
  Client c = Client::tcp(server.port(), "127.0.0.1", 4096);
  std::string requests;
  for (int i = 0; i < 2000; ++i) requests += "GET\r\n";
  REQUIRE(c.send_all(requests));
  // The client is not reading: the server holds references to what it could not send.
  CHECK(eventually([&] { return value.refs.load() > 0; }));
  const std::string reply = c.recv_n(2000 * value.bytes.size(), 20000ms);
  CHECK(reply.size() == 2000 * value.bytes.size());
  CHECK(reply.substr(0, value.bytes.size()) == value.bytes);
  CHECK(eventually([&] { return value.refs.load() == 0; }));
}

TEST_CASE("a connection closed with borrowed replies unsent releases every reference", "[loopback][buffers]") {
  SharedValue value;
  connkit::Server server(zero_copy_options(value));
  server.start();
  {
    Client c = Client::tcp(server.port(), "127.0.0.1", 4096);
    std::string requests;
    for (int i = 0; i < 2000; ++i) requests += "GET\r\n";
    REQUIRE(c.send_all(requests));
    REQUIRE(eventually([&] { return value.refs.load() > 0; }));
  }  // closed without reading
  CHECK(eventually([&] { return server.stats().total.curr_conns == 0; }));
  CHECK(value.refs.load() == 0);
}
