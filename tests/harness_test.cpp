// connkit/testing.hpp: a handler driven through the real state machine over a socketpair,
// with the input cut at every fragment size and every split point.
#include <connkit/testing.hpp>

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>

#include "line_handler.hpp"
#include "support/conn_state_string.hpp"
#include "support/line_script.hpp"

using connkit::test::line_script;
using connkit::test::line_script_replies;
using connkit::testing::HandlerHarness;

namespace {

connkit::HandlerFactory line_factory() {
  return [] { return std::make_unique<connkit::examples::LineHandler>(); };
}

}  // namespace

TEST_CASE("a handler gives the same replies whatever the fragment size", "[harness]") {
  const auto fragment = GENERATE(as<std::size_t>{}, 1, 2, 3, 5, 7, 16, 64, 100000);
  CAPTURE(fragment);
  HandlerHarness h(line_factory());
  CHECK(h.exchange(line_script, fragment) == line_script_replies);
  CHECK(h.stats().bytes_read == line_script.size());
  CHECK(h.stats().bytes_written == line_script_replies.size());
  CHECK_FALSE(h.closed());
  CHECK(h.state() == connkit::ConnState::read);  // waiting for more input
}

TEST_CASE("a handler gives the same replies whatever the split point", "[harness]") {
  // Every split point of the session without its 70,000-byte body (which is swept above).
  const std::string session = line_script.substr(0, line_script.find("ECHO 70000")) + "PING\r\n";
  const std::string replies =
      line_script_replies.substr(0, line_script_replies.find("SERVER_ERROR object too large")) + "PONG\r\n";
  const auto split = GENERATE_COPY(range<std::size_t>(0, session.size() + 1));
  CAPTURE(split);
  HandlerHarness h(line_factory());
  std::string got = h.exchange(session.substr(0, split));
  got += h.exchange(session.substr(split));
  CHECK(got == replies);
}

TEST_CASE("write_and_close sends what is queued before closing, close drops it", "[harness]") {
  SECTION("BYE") {
    HandlerHarness h(line_factory());
    CHECK(h.exchange("PING\r\nBYE\r\nPING\r\n") == "PONG\r\nBYE\r\n");
    CHECK(h.closed());
    // A graceful close lingers: writes are shut down, input is discarded until the client closes.
    CHECK(h.state() == connkit::ConnState::swallow);
    h.shutdown_input();
    CHECK(h.state() == connkit::ConnState::closing);
  }
  SECTION("QUIT in the same read as PING drops PING's queued reply") {
    HandlerHarness h(line_factory());
    CHECK(h.exchange("PING\r\nQUIT\r\n").empty());
    CHECK(h.closed());
  }
  SECTION("QUIT after PING's reply went out") {
    HandlerHarness h(line_factory());
    CHECK(h.exchange("PING\r\n") == "PONG\r\n");
    CHECK(h.exchange("QUIT\r\n").empty());
    CHECK(h.closed());
  }
}

TEST_CASE("the client's EOF closes the connection", "[harness]") {
  HandlerHarness h(line_factory());
  CHECK(h.exchange("PING\r\n") == "PONG\r\n");
  h.shutdown_input();
  CHECK(h.closed());
}

TEST_CASE("the harness applies the options' fairness budget", "[harness]") {
  connkit::ServerOptions options;
  options.reqs_per_event = 2;
  HandlerHarness h(line_factory(), options);
  CHECK(h.exchange("PING\r\nPING\r\nPING\r\nPING\r\nPING\r\n") == "PONG\r\nPONG\r\nPONG\r\nPONG\r\nPONG\r\n");
  CHECK(h.stats().conn_yields >= 2);
}

TEST_CASE("the cache's text protocol stores and reads back whatever the split point", "[harness][memcache]") {
  const std::string wire = "set k 5 0 5\r\nhello\r\nget k\r\nincr n 1\r\ndelete k\r\nget k\r\n";
  const std::string want = "STORED\r\nVALUE k 5 5\r\nhello\r\nEND\r\nNOT_FOUND\r\nDELETED\r\nEND\r\n";
  const auto split = GENERATE_COPY(range<std::size_t>(0, wire.size() + 1));
  CAPTURE(split);
  connkit::cache::Store store(connkit::cache::StoreOptions{});
  connkit::cache::Endpoint endpoint(store);
  HandlerHarness h(endpoint.handler_factory());
  std::string got = h.exchange(wire.substr(0, split));
  got += h.exchange(wire.substr(split));
  CHECK(got == want);
}
