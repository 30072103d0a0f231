// The line-protocol example over real sockets: framing, bodies, errors, ordering.
#include "line_handler.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "support/client.hpp"
#include "support/line_server.hpp"
#include "support/line_script.hpp"

using connkit::test::Client;

using connkit::test::line_script;
using connkit::test::line_script_replies;

TEST_CASE("pipelined requests give byte-exact replies in order whatever the packet boundaries", "[loopback][line]") {
  const auto chunk = GENERATE(as<std::size_t>{}, 1, 2, 5, 13, 100, 4096, 1000000);
  CAPTURE(chunk);
  connkit::Server server(connkit::test::line_options(2));
  server.start();
  Client c = Client::tcp(server.port());
  for (std::size_t at = 0; at < line_script.size(); at += chunk) {
    REQUIRE(c.send_all(std::string_view(line_script).substr(at, chunk)));
  }
  CHECK(c.recv_n(line_script_replies.size()) == line_script_replies);
}

TEST_CASE("BYE flushes its reply and then closes, QUIT closes at once", "[loopback][line]") {
  connkit::Server server(connkit::test::line_options());
  server.start();
  Client bye = Client::tcp(server.port());
  bye.send_all("PING\r\nBYE\r\nPING\r\n");
  std::string got;
  CHECK(bye.read_to_eof(got));
  CHECK(got == "PONG\r\nBYE\r\n");
  Client quit = Client::tcp(server.port());
  quit.send_all("QUIT\r\nPING\r\n");
  CHECK(quit.wait_closed());
}

TEST_CASE("a line longer than the protocol allows is an error and the connection closes", "[loopback][line]") {
  connkit::Server server(connkit::test::line_options());
  server.start();
  Client c = Client::tcp(server.port());
  c.send_all(std::string(3000, 'a'));
  std::string got;
  CHECK(c.read_to_eof(got));
  CHECK(got == "CLIENT_ERROR line too long\r\n");
  Client other = Client::tcp(server.port());
  CHECK(other.roundtrip("PING\r\n", 6) == "PONG\r\n");
}

TEST_CASE("a body arriving byte by byte is read into the handler's memory", "[loopback][line]") {
  connkit::Server server(connkit::test::line_options());
  server.start();
  Client c = Client::tcp(server.port());
  const std::string value(5000, 'v');
  c.send_all("PUT 5000\r\n");
  for (char ch : value + "\r\n") c.send_all(std::string_view(&ch, 1));
  CHECK(c.recv_n(8) == "STORED\r\n");
  CHECK(c.roundtrip("GET\r\n", 14 + value.size()) == "VALUE 5000\r\n" + value + "\r\n");
}
