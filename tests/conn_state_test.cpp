// Test that header file is self-contained.
#include <connkit/conn_state.hpp>

#include <string>

#include <catch2/catch.hpp>

#include "support/conn_state_string.hpp"

#include <connkit/error.hpp>
#include <connkit/protocol_handler.hpp>
#include <connkit/stats.hpp>


TEST_CASE("states print with memcached's names", "[conn_state]") {
  using connkit::ConnState;
  CHECK(to_string(ConnState::listening) == "listening");
  CHECK(to_string(ConnState::new_cmd) == "new_cmd");
  CHECK(to_string(ConnState::waiting) == "waiting");
  CHECK(to_string(ConnState::read) == "read");
  CHECK(to_string(ConnState::parse_cmd) == "parse_cmd");
  CHECK(to_string(ConnState::nread) == "nread");
  CHECK(to_string(ConnState::swallow) == "swallow");
  CHECK(to_string(ConnState::write) == "write");
  CHECK(to_string(ConnState::mwrite) == "mwrite");
  CHECK(to_string(ConnState::closing) == "closing");
}

TEST_CASE("actions carry what the handler asked for", "[conn_state]") {
  char dest[10];
  const auto a = connkit::Action::read_body_into(7, dest);
  CHECK(a.kind() == connkit::Action::Kind::read_body_into);
  CHECK(a.consumed_bytes() == 7);
  CHECK(a.body_bytes() == 10);
  CHECK(a.body_destination().data() == dest);
  const auto s = connkit::Action::swallow(3, 1000);
  CHECK(s.kind() == connkit::Action::Kind::swallow);
  CHECK(s.body_bytes() == 1000);
  CHECK(connkit::Action::write_and_close(5).consumed_bytes() == 5);
}

TEST_CASE("connkit errors have their own category and messages", "[conn_state]") {
  const boost::system::error_code ec = connkit::errc::idle_timeout;
  CHECK(std::string(ec.category().name()) == "connkit");
  CHECK(ec.message() == "idle timeout");
}

TEST_CASE("stats text uses memcached's wire names", "[conn_state]") {
  connkit::ServerStats s;
  s.total.curr_conns = 3;
  s.total.conn_structs = 4;
  s.total.rejected_conns = 1;
  s.max_connections = 1024;
  const std::string text = connkit::to_stats_text(s);
  CHECK(text.find("STAT curr_connections 3\r\n") != std::string::npos);
  CHECK(text.find("STAT connection_structures 4\r\n") != std::string::npos);
  CHECK(text.find("STAT rejected_connections 1\r\n") != std::string::npos);
  CHECK(text.find("STAT max_connections 1024\r\n") != std::string::npos);
  CHECK(text.find("STAT conn_yields 0\r\n") != std::string::npos);
}
