// The cache endpoint's text protocol over real sockets, transcript style (memcached's t/*.t),
// with an injected clock for expiry.
#include <connkit/cache/endpoint.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"
#include "support/log_capture.hpp"

using connkit::test::CacheFixture;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::exchange;

TEST_CASE("storage commands and retrieval answer as memcached does", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "set foo 5 0 6\r\nfooval\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get foo\r\n", "VALUE foo 5 6\r\nfooval\r\nEND\r\n");
  EXPECT_REPLY(c, "add foo 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
  EXPECT_REPLY(c, "replace nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
  EXPECT_REPLY(c, "append foo 0 0 3\r\n_ap\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "prepend foo 0 0 3\r\npr_\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get foo\r\n", "VALUE foo 5 12\r\npr_fooval_ap\r\nEND\r\n");
  EXPECT_REPLY(c, "append nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
  EXPECT_REPLY(c, "get foo nope foo\r\n", "VALUE foo 5 12\r\npr_fooval_ap\r\nVALUE foo 5 12\r\npr_fooval_ap\r\nEND\r\n");
  EXPECT_REPLY(c, "delete foo\r\n", "DELETED\r\n");
  EXPECT_REPLY(c, "delete foo\r\n", "NOT_FOUND\r\n");
  EXPECT_REPLY(c, "get foo\r\n", "END\r\n");
}

TEST_CASE("gets returns a CAS unique that cas checks", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "cas k 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n");
  EXPECT_REPLY(c, "set k 0 0 1\r\na\r\n", "STORED\r\n");
  const std::string line = connkit::test::line_reply(c, "gets k\r\n");
  REQUIRE(connkit::test::mask_numbers(line, {"VALUE k 0 1 "}) == "VALUE k 0 1 #\r\n");
  const std::string unique = std::to_string(connkit::test::number_after(line, "VALUE k 0 1 "));
  CHECK(c.recv_n(8) == "a\r\nEND\r\n");
  EXPECT_REPLY(c, "cas k 0 0 1 " + unique + "1\r\nb\r\n", "EXISTS\r\n");
  EXPECT_REPLY(c, "cas k 0 0 1 " + unique + "\r\nb\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "cas k 0 0 1 " + unique + "\r\nc\r\n", "EXISTS\r\n");
  EXPECT_REPLY(c, "get k\r\n", "VALUE k 0 1\r\nb\r\nEND\r\n");
  const auto stats = f.endpoint->command_stats();
  CHECK(stats.cas_misses == 1);
  CHECK(stats.cas_hits == 1);
  CHECK(stats.cas_badval == 2);
}

TEST_CASE("incr wraps, decr floors at zero, non-numeric values are refused", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "incr n 1\r\n", "NOT_FOUND\r\n");
  EXPECT_REPLY(c, "set n 0 0 2\r\n10\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "incr n 5\r\n", "15\r\n");
  EXPECT_REPLY(c, "decr n 100\r\n", "0\r\n");
  EXPECT_REPLY(c, "set n 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "incr n 2\r\n", "1\r\n");
  EXPECT_REPLY(c, "get n\r\n", "VALUE n 0 20\r\n1                   \r\nEND\r\n");
  EXPECT_REPLY(c, "set s 0 0 3\r\nabc\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "incr s 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_REPLY(c, "incr n abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
  EXPECT_REPLY(c, "decr n -1\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
}

TEST_CASE("malformed requests get memcached's errors and the connection stays usable", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  const std::string long_key(251, 'k');
  EXPECT_REPLY(c, "bogus\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "set " + long_key + " 0 0 1\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "get a " + long_key + " b\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "set k 0 0 abc\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "set k 0 0 -1\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "set k 0 0 3\r\nabcde\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  EXPECT_REPLY(c, "delete k 10\r\n", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  EXPECT_REPLY(c, "delete k 0\r\n", "NOT_FOUND\r\n");
  EXPECT_REPLY(c, "touch k abc\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_REPLY(c, "set\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "version\r\n", "VERSION 1.6.18-connkit\r\n");
  EXPECT_REPLY(c, "verbosity 1\r\n", "OK\r\n");
  EXPECT_REPLY(c, "verbosity x\r\n", "CLIENT_ERROR bad command line format\r\n");
}

TEST_CASE("an oversized value is swallowed, refused, and removes the old item", "[cache][text]") {
  CacheFixture f(64u << 20, 1024);
  Client c = f.client();
  EXPECT_REPLY(c, "set big 0 0 3\r\nold\r\n", "STORED\r\n");
  const std::string value(2000, 'v');
  EXPECT_REPLY(c, "set big 0 0 2000\r\n" + value + "\r\n", "SERVER_ERROR object too large for cache\r\n");
  EXPECT_REPLY(c, "get big\r\n", "END\r\n");
  EXPECT_REPLY(c, "add other 0 0 2000 noreply\r\n" + value + "\r\nget other\r\n", "END\r\n");
  CHECK(f.endpoint->command_stats().store_too_large == 2);
}

TEST_CASE("noreply suppresses replies of storage commands", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "set a 0 0 1 noreply\r\n1\r\nincr a 1 noreply\r\ndelete b noreply\r\nget a\r\n",
               "VALUE a 0 1\r\n2\r\nEND\r\n");
}

TEST_CASE("items expire by memcached's rules as the clock moves", "[cache][text][expiry]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "set rel 0 10 1\r\nr\r\n", "STORED\r\n");
  const std::string absolute = std::to_string(f.now.load() + 20);
  EXPECT_REPLY(c, "set abs 0 " + absolute + " 1\r\na\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "set neg 0 -1 1\r\nn\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get neg\r\n", "END\r\n");
  f.now += 9;
  EXPECT_REPLY(c, "get rel abs\r\n", "VALUE rel 0 1\r\nr\r\nVALUE abs 0 1\r\na\r\nEND\r\n");
  f.now += 1;
  EXPECT_REPLY(c, "get rel abs\r\n", "VALUE abs 0 1\r\na\r\nEND\r\n");
  EXPECT_REPLY(c, "touch abs 100\r\n", "TOUCHED\r\n");
  f.now += 50;
  EXPECT_REPLY(c, "gat 5 abs\r\n", "VALUE abs 0 1\r\na\r\nEND\r\n");
  f.now += 5;
  EXPECT_REPLY(c, "get abs\r\n", "END\r\n");
  CHECK(f.endpoint->command_stats().get_expired == 3);  // neg, rel, abs
}

TEST_CASE("flush_all with a delay also invalidates items stored before the deadline", "[cache][text][expiry]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "set a 0 0 1\r\na\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "flush_all 3\r\n", "OK\r\n");
  f.now += 1;
  EXPECT_REPLY(c, "set b 0 0 1\r\nb\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get a b\r\n", "VALUE a 0 1\r\na\r\nVALUE b 0 1\r\nb\r\nEND\r\n");
  f.now += 2;
  EXPECT_REPLY(c, "get a b\r\n", "END\r\n");
  EXPECT_REPLY(c, "set c 0 0 1\r\nc\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get c\r\n", "VALUE c 0 1\r\nc\r\nEND\r\n");
  EXPECT_REPLY(c, "flush_all\r\n", "OK\r\n");
  EXPECT_REPLY(c, "get c\r\n", "END\r\n");
  EXPECT_REPLY(c, "set d 0 0 1\r\nd\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get d\r\n", "VALUE d 0 1\r\nd\r\nEND\r\n");
}

TEST_CASE("the memory limit evicts least recently used items and stats show it", "[cache][text][eviction]") {
  CacheFixture f(2u << 20, 1u << 20);
  Client c = f.client();
  const std::string value(100000, 'x');
  for (int i = 0; i < 40; ++i) {
    REQUIRE(exchange(c, "set k" + std::to_string(i) + " 0 0 100000\r\n" + value + "\r\n", 8) == "STORED\r\n");
  }
  const auto s = f.store->stats();
  CHECK(s.evictions > 0);
  CHECK(s.bytes <= 2u << 20);
  EXPECT_REPLY(c, "get k0\r\n", "END\r\n");
  CHECK(exchange(c, "get k39\r\n", 18 + 100000 + 7).size() == 18 + 100000 + 7);
  const std::string text = stats_reply(c, "stats\r\n");
  CHECK(text.find("STAT evictions " + std::to_string(s.evictions) + "\r\n") != std::string::npos);
  CHECK(text.find("STAT limit_maxbytes 2097152\r\n") != std::string::npos);
  CHECK(text.find("STAT curr_connections 1\r\n") != std::string::npos);
  CHECK(text.find("STAT cmd_set 40\r\n") != std::string::npos);
  // connkit's own connection counters stay out: memcached's t/stats.t counts the lines.
  CHECK(text.find("conns_closed_") == std::string::npos);
  CHECK(text.find("write_stall_kicks") == std::string::npos);
}

TEST_CASE("a 1 MiB item fits even when the memory limit is small", "[cache][text][eviction]") {
  CacheFixture f(3u << 20, 1u << 20);
  Client c = f.client();
  const std::string value((1u << 20) - 512, 'm');
  for (int i = 0; i < 6; ++i) {
    REQUIRE(exchange(c, "set m" + std::to_string(i) + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n", 8) ==
            "STORED\r\n");
  }
  CHECK(f.store->stats().evictions >= 3);
}

TEST_CASE("a multi-get of hundreds of keys returns every hit in order", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  std::string request = "get";
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    const std::string key = "key" + std::to_string(i);
    if (i % 2 == 0) {
      REQUIRE(exchange(c, "set " + key + " 0 0 1\r\nv\r\n", 8) == "STORED\r\n");
      expected += "VALUE " + key + " 0 1\r\nv\r\n";
    }
    request += " " + key;
  }
  expected += "END\r\n";
  CHECK(exchange(c, request + "\r\n", expected.size()) == expected);
}

TEST_CASE("an HTTP request and an overlong non-get line close the connection silently", "[cache][text]") {
  CacheFixture f;
  Client http = f.client();
  http.send_all("GET / HTTP/1.1\r\n");
  CHECK(http.wait_closed());
  Client junk = f.client();
  junk.send_all(std::string(3000, 'j'));
  CHECK(junk.wait_closed());
  Client fine = f.client();
  EXPECT_REPLY(fine, "get " + std::string(3000, ' ') + "x\r\n", "END\r\n");
}

TEST_CASE("a line that closes the connection still gets the replies of the commands before it", "[cache][text]") {
  // As memcached: STORED, the value and END, then the close (nothing for the HTTP line).
  CacheFixture f;
  Client http = f.client();
  http.send_all("set a 0 0 1\r\nx\r\nget a\r\nGET / HTTP/1.1\r\n");
  std::string got;
  CHECK(http.read_to_eof(got));
  CHECK(got == "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
  Client junk = f.client();
  junk.send_all("get a\r\n" + std::string(3000, 'j'));
  got.clear();
  CHECK(junk.read_to_eof(got));
  CHECK(got == "VALUE a 0 1\r\nx\r\nEND\r\n");
}

TEST_CASE("bget without a key is an error, as memcached's", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "bget\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "set b 0 0 1\r\nv\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "bget b\r\n", "VALUE b 0 1\r\nv\r\nEND\r\n");
}

TEST_CASE("quit flushes earlier replies and closes", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  c.send_all("set q 0 0 1\r\nq\r\nquit\r\nget q\r\n");
  std::string got;
  CHECK(c.read_to_eof(got));
  CHECK(got == "STORED\r\n");
}

TEST_CASE("stats lists memcached's names in memcached's order", "[cache][text][stats]") {
  CacheFixture f;
  Client c = f.client();
  const std::string text = stats_reply(c, "stats\r\n");
  std::string names;
  for (std::size_t at = text.find("STAT "); at != std::string::npos; at = text.find("STAT ", at + 1)) {
    const std::size_t end = text.find(' ', at + 5);
    names += text.substr(at + 5, end - at - 5) + " ";
  }
  CHECK(names ==
        "pid uptime time version pointer_size rusage_user rusage_system max_connections curr_connections "
        "total_connections rejected_connections connection_structures read_buf_oom cmd_get cmd_set cmd_flush "
        "cmd_touch cmd_meta get_hits get_misses get_expired get_flushed delete_misses delete_hits incr_misses incr_hits "
        "decr_misses decr_hits cas_misses cas_hits cas_badval touch_hits touch_misses store_too_large "
        "store_no_memory auth_cmds auth_errors bytes_read bytes_written limit_maxbytes accepting_conns listen_disabled_num "
        "time_in_listen_disabled_us threads conn_yields idle_kicks malloc_fails read_buf_count read_buf_bytes "
        "read_buf_bytes_free bytes curr_items total_items expired_unfetched evicted_unfetched evicted_active "
        "evictions reclaimed crawler_reclaimed crawler_items_checked lrutail_reflocked moves_to_cold moves_to_warm "
        "moves_within_lru direct_reclaims ");
}

TEST_CASE("stats reset restarts the connection totals and keeps the gauges", "[cache][text][stats]") {
  CacheFixture f;
  Client other = f.client();
  EXPECT_REPLY(other, "version\r\n", "VERSION 1.6.18-connkit\r\n");
  Client c = f.client();
  EXPECT_REPLY(c, "stats reset\r\n", "RESET\r\n");
  const std::string text = stats_reply(c, "stats\r\n");
  CHECK(connkit::test::number_after(text, "STAT curr_connections ") == 2);
  CHECK(connkit::test::number_after(text, "STAT connection_structures ") >= 2);
  CHECK(text.find("STAT total_connections 0\r\n") != std::string::npos);
  // Counted from the reset: "stats\r\n" in, "RESET\r\n" out (this reply is not sent yet).
  CHECK(text.find("STAT bytes_read 7\r\n") != std::string::npos);
  CHECK(text.find("STAT bytes_written 7\r\n") != std::string::npos);
}

TEST_CASE("stats conns lists the listener and each connection with its state", "[cache][text][stats]") {
  CacheFixture f;
  Client idle = f.client();
  EXPECT_REPLY(idle, "version\r\n", "VERSION 1.6.18-connkit\r\n");
  Client c = f.client();
  const std::string text = stats_reply(c, "stats conns\r\n");
  const std::string port = std::to_string(f.server->port());
  CHECK(text.find(":addr tcp:127.0.0.1:" + port + "\r\n") != std::string::npos);  // the listener
  CHECK(text.find(":state conn_listening\r\n") != std::string::npos);
  CHECK(text.find(":listen_addr tcp:127.0.0.1:" + port + "\r\n") != std::string::npos);
  CHECK(text.find(":state conn_read\r\n") != std::string::npos);       // the idle client
  CHECK(text.find(":state conn_parse_cmd\r\n") != std::string::npos);  // this one, mid-command
  CHECK(text.find(":secs_since_last_cmd 0\r\n") != std::string::npos);
}

namespace {

/// The N of the first "<N new ascii client connection." line; -1 if there is none.
long new_connection_fd(const std::vector<std::string>& lines) {
  const std::string suffix = " new ascii client connection.";
  for (const std::string& l : lines) {
    if (l.size() > suffix.size() + 1 && l[0] == '<' && l.compare(l.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return std::stol(l.substr(1, l.size() - suffix.size() - 1));
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("the verbosity command sets the server's log level for every connection", "[cache][text][log]") {
  connkit::test::LogCapture capture;
  CacheFixture f(64u << 20, 1u << 20, capture.sink());  // verbosity 0
  Client admin = f.client();
  EXPECT_REPLY(admin, "version\r\n", "VERSION 1.6.18-connkit\r\n");
  CHECK(capture.snapshot().empty());

  // Raised from a connection, for the whole server: a later connection logs -vv lines.
  EXPECT_REPLY(admin, "verbosity 2\r\n", "OK\r\n");
  CHECK(f.server->verbosity() == 2);
  CHECK(stats_reply(admin, "stats settings\r\n").find("STAT verbosity 2\r\n") != std::string::npos);
  {
    Client later = f.client();
    EXPECT_REPLY(later, "version\r\n", "VERSION 1.6.18-connkit\r\n");
  }
  CHECK(eventually([&] { return capture.contains(" connection closed: peer closed the connection"); }));
  const long fd = new_connection_fd(capture.snapshot());
  REQUIRE(fd >= 0);
  CHECK(capture.contains("<" + std::to_string(fd) + " connection closed: peer closed the connection"));
  CHECK(capture.contains("<" + std::to_string(fd) + " version"));  // -vv echoes commands

  // Lowered again: the next connection opens and closes without a line.
  EXPECT_REPLY(admin, "verbosity 0\r\n", "OK\r\n");
  CHECK(f.server->verbosity() == 0);
  const std::size_t before = capture.snapshot().size();
  {
    Client quiet = f.client();
    EXPECT_REPLY(quiet, "version\r\n", "VERSION 1.6.18-connkit\r\n");
  }
  CHECK(eventually([&] { return f.server->stats().total.curr_conns == 1; }));
  CHECK(capture.snapshot().size() == before);

  // The command caps at memcached's MAX_VERBOSITY_LEVEL; the host may go higher.
  EXPECT_REPLY(admin, "verbosity 5\r\n", "OK\r\n");
  CHECK(f.server->verbosity() == 2);
  f.server->set_verbosity(3);
  CHECK(f.server->verbosity() == 3);
}

TEST_CASE("stats detail counts gets, hits, sets and deletes per key prefix, as memcached", "[cache][text]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "stats detail dump\r\n", "END\r\n");
  EXPECT_REPLY(c, "stats detail\r\n", "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
  EXPECT_REPLY(c, "stats detail foo\r\n", "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
  EXPECT_REPLY(c, "stats detail on\r\n", "OK\r\n");
  // Counted: text get/gets (per key; a miss counts get only), set headers, deletes found or
  // not. Not counted: keys without the delimiter, touch, incr, meta commands.
  EXPECT_REPLY(c,
               "set foo:a 0 0 1\r\nx\r\nget foo:a\r\nget foo:b\r\nget bar\r\ndelete foo:zz\r\ndelete foo:a\r\n"
               "set a:b:c 0 0 1\r\ny\r\nincr foo:n 1\r\ntouch foo:a 1\r\ngets foo:a foo:b\r\nmg foo:x v\r\n"
               "ms foo:m 1\r\nz\r\nmd foo:m\r\n",
               "STORED\r\nVALUE foo:a 0 1\r\nx\r\nEND\r\nEND\r\nEND\r\nNOT_FOUND\r\nDELETED\r\nSTORED\r\n"
               "NOT_FOUND\r\nNOT_FOUND\r\nEND\r\nEN\r\nHD\r\nHD\r\n");
  EXPECT_REPLY(c, "stats detail dump\r\n",
               "PREFIX foo get 4 hit 1 set 1 del 2\r\nPREFIX a get 0 hit 0 set 1 del 0\r\nEND\r\n");
  CHECK(stats_reply(c, "stats settings\r\n").find("STAT detail_enabled yes\r\n") != std::string::npos);
  EXPECT_REPLY(c, "stats detail off\r\nget foo:a\r\n", "OK\r\nEND\r\n");
  EXPECT_REPLY(c, "stats detail dump\r\n",
               "PREFIX foo get 4 hit 1 set 1 del 2\r\nPREFIX a get 0 hit 0 set 1 del 0\r\nEND\r\n");
  EXPECT_REPLY(c, "stats reset\r\nstats detail dump\r\n", "RESET\r\nEND\r\n");
  EXPECT_REPLY(c, "stats detail on extra\r\n", "OK\r\n");
}
