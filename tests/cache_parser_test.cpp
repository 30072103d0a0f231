// The text and meta parser as a pure function (lib/cache/text_parser.hpp): every request at
// every split point, and requests built from fields parsed back into the same fields.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "cache/text_parser.hpp"

using connkit::cache::StoreMode;
using connkit::cache::detail::Command;
using connkit::cache::detail::parse_text;
using connkit::cache::detail::ParseLimits;
using connkit::cache::detail::ParseStatus;
using connkit::cache::detail::Request;

namespace {

ParseStatus parse(std::string_view input, Request& out, const ParseLimits& limits = {}) {
  return parse_text({input.data(), input.size()}, out, limits);
}

struct Case {
  const char* line;   // one request line, "\r\n" included
  ParseStatus status;
  Command command;
};

// Requests of every command and the errors a line can earn (the value of a storage command
// is not part of its line).
const Case cases[] = {
    {"get a\r\n", ParseStatus::complete, Command::get},
    {"get a b c\r\n", ParseStatus::complete, Command::get},
    {"gets a\r\n", ParseStatus::complete, Command::gets},
    {"gat 10 a b\r\n", ParseStatus::complete, Command::gat},
    {"gats 10 a\r\n", ParseStatus::complete, Command::gats},
    {"bget a\r\n", ParseStatus::complete, Command::get},
    {"bget\r\n", ParseStatus::error, Command::unknown},
    {"set k 1 2 3\r\n", ParseStatus::complete, Command::set},
    {"set k 1 2 3 noreply\r\n", ParseStatus::complete, Command::set},
    {"add k 0 0 1\r\n", ParseStatus::complete, Command::add},
    {"replace k 0 0 1\r\n", ParseStatus::complete, Command::replace},
    {"append k 0 0 1\r\n", ParseStatus::complete, Command::append},
    {"prepend k 0 0 1\r\n", ParseStatus::complete, Command::prepend},
    {"cas k 0 0 1 99\r\n", ParseStatus::complete, Command::cas},
    {"set k x 0 1\r\n", ParseStatus::error, Command::set},
    {"delete k\r\n", ParseStatus::complete, Command::del},
    {"delete k 0 noreply\r\n", ParseStatus::complete, Command::del},
    {"delete k 5\r\n", ParseStatus::error, Command::del},
    {"incr k 5\r\n", ParseStatus::complete, Command::incr},
    {"decr k 5 noreply\r\n", ParseStatus::complete, Command::decr},
    {"incr k x\r\n", ParseStatus::error, Command::incr},
    {"touch k 10\r\n", ParseStatus::complete, Command::touch},
    {"flush_all\r\n", ParseStatus::complete, Command::flush_all},
    {"flush_all 10 noreply\r\n", ParseStatus::complete, Command::flush_all},
    {"version\r\n", ParseStatus::complete, Command::version},
    {"verbosity 1\r\n", ParseStatus::complete, Command::verbosity},
    {"stats\r\n", ParseStatus::complete, Command::stats},
    {"stats detail dump\r\n", ParseStatus::complete, Command::stats},
    {"cache_memlimit 64\r\n", ParseStatus::complete, Command::cache_memlimit},
    {"cache_memlimit 64 noreply\r\n", ParseStatus::complete, Command::cache_memlimit},
    {"cache_memlimit x\r\n", ParseStatus::error, Command::cache_memlimit},
    {"lru_crawler metadump all\r\n", ParseStatus::complete, Command::lru_crawler},
    {"lru_crawler disable\r\n", ParseStatus::complete, Command::lru_crawler},
    {"lru_crawler metadump\r\n", ParseStatus::error, Command::lru_crawler},
    {"quit\r\n", ParseStatus::complete, Command::quit},
    {"shutdown\r\n", ParseStatus::complete, Command::shutdown},
    {"mn\r\n", ParseStatus::complete, Command::noop},
    {"mg k v t c f O123 q\r\n", ParseStatus::complete, Command::meta_get},
    {"mg bWVrZXk= b k\r\n", ParseStatus::complete, Command::meta_get},
    {"mg k v v\r\n", ParseStatus::error, Command::meta_get},
    {"ms k 5 T10 F3 I MS C9\r\n", ParseStatus::complete, Command::meta_set},
    {"ms k 5 MX\r\n", ParseStatus::error, Command::meta_set},
    {"md k q I T30\r\n", ParseStatus::complete, Command::meta_delete},
    {"ma k MD D7 N0 J1 v\r\n", ParseStatus::complete, Command::meta_arithmetic},
    {"ma k MZ\r\n", ParseStatus::error, Command::meta_arithmetic},
    {"me k\r\n", ParseStatus::complete, Command::meta_debug},
    {"me\r\n", ParseStatus::error, Command::unknown},
    {"frobnicate\r\n", ParseStatus::error, Command::unknown},
    {"GET / HTTP/1.1\r\n", ParseStatus::error, Command::unknown},
    {"\r\n", ParseStatus::error, Command::unknown},
};

}  // namespace

TEST_CASE("the text parser needs more input at every split point of a line, then parses it whole", "[parser]") {
  const Case& c = GENERATE(from_range(std::begin(cases), std::end(cases)));
  const std::string line = c.line;
  CAPTURE(line);
  for (std::size_t split = 0; split < line.size(); ++split) {
    Request r;
    CAPTURE(split);
    CHECK(parse(std::string_view(line).substr(0, split), r) == ParseStatus::need_more);
  }
  Request whole;
  const ParseStatus status = parse(line, whole);
  CHECK(status == c.status);
  if (!whole.close) CHECK(whole.size == line.size());
  if (status == ParseStatus::complete) CHECK(whole.command == c.command);
  if (status == ParseStatus::error) CHECK((whole.close || !whole.error.empty()));
  // What follows the line never changes how the line parses.
  Request followed;
  CHECK(parse(line + "get next\r\n", followed) == status);
  CHECK(followed.size == whole.size);
}

TEST_CASE("a pipelined stream parses into the same requests whatever the split points", "[parser]") {
  std::string stream;
  for (const Case& c : cases) {
    if (c.status == ParseStatus::complete && c.command != Command::quit) stream += c.line;
  }
  // Parse the stream request by request from growing prefixes, as the connection's buffer
  // grows: each request is found exactly when its last byte has arrived.
  const std::size_t step = GENERATE(1, 2, 3, 7, 64);
  std::size_t at = 0;
  std::size_t have = 0;
  std::vector<Command> seen;
  while (at < stream.size()) {
    have = std::min(stream.size(), have + step);
    for (;;) {
      Request r;
      const std::string_view input = std::string_view(stream).substr(at, have - at);
      const ParseStatus status = parse(input, r);
      if (status == ParseStatus::need_more) break;
      REQUIRE(status == ParseStatus::complete);
      seen.push_back(r.command);
      at += r.size;
    }
  }
  std::vector<Command> expected;
  for (const Case& c : cases) {
    if (c.status == ParseStatus::complete && c.command != Command::quit) expected.push_back(c.command);
  }
  CHECK(seen == expected);
}

TEST_CASE("storage requests built from fields parse back into the same fields", "[parser]") {
  struct Storage {
    const char* name;
    Command command;
    StoreMode mode;
  };
  const Storage s = GENERATE(Storage{"set", Command::set, StoreMode::set}, Storage{"add", Command::add, StoreMode::add},
                             Storage{"replace", Command::replace, StoreMode::replace},
                             Storage{"append", Command::append, StoreMode::append},
                             Storage{"prepend", Command::prepend, StoreMode::prepend},
                             Storage{"cas", Command::cas, StoreMode::cas});
  const std::uint32_t flags = GENERATE(0u, 1u, 4294967295u);
  const std::int32_t exptime = GENERATE(0, 1, -1, 2592001);
  const std::size_t size = GENERATE(0u, 1u, 1048576u);
  const bool noreply = GENERATE(false, true);
  const std::string key(GENERATE(1u, 250u), 'k');
  std::string line = std::string(s.name) + " " + key + " " + std::to_string(flags) + " " + std::to_string(exptime) +
                     " " + std::to_string(size);
  if (s.command == Command::cas) line += " 12345678901234";
  if (noreply) line += " noreply";
  line += "\r\n";
  Request r;
  REQUIRE(parse(line, r) == ParseStatus::complete);
  CHECK(r.command == s.command);
  CHECK(r.mode == s.mode);
  CHECK(r.key == key);
  CHECK(r.flags == flags);
  CHECK(r.exptime == exptime);
  CHECK(r.value_size == size);
  CHECK(r.noreply == noreply);
  CHECK(r.cas == (s.command == Command::cas ? 12345678901234u : 0u));
  CHECK(r.size == line.size());
}

TEST_CASE("the key-length rule applies to every key of a line", "[parser]") {
  const std::string ok(250, 'k');
  const std::string long_key(251, 'k');
  Request r;
  CHECK(parse("get a " + ok + "\r\n", r) == ParseStatus::complete);
  for (const std::string& line : {"get a " + long_key + "\r\n", "set " + long_key + " 0 0 1\r\n",
                                  "delete " + long_key + "\r\n", "incr " + long_key + " 1\r\n",
                                  "touch " + long_key + " 1\r\n", "mg " + long_key + " v\r\n"}) {
    Request bad;
    CAPTURE(line);
    CHECK(parse(line, bad) == ParseStatus::error);
    CHECK(bad.error == "CLIENT_ERROR bad command line format");
  }
}

TEST_CASE("a meta b key is decoded into the request itself", "[parser]") {
  Request r;
  REQUIRE(parse("mg bWVrZXk= b v\r\n", r) == ParseStatus::complete);
  CHECK(r.key == "mekey");
  CHECK(r.key.data() == r.key_buffer);
  CHECK(r.meta.key_binary);
  CHECK(r.meta.value);
  Request bad;
  CHECK(parse("mg !!!! b\r\n", bad) == ParseStatus::error);
  CHECK(bad.error == "CLIENT_ERROR error decoding key");
}

TEST_CASE("a long line without a newline: need more for a get, close for anything else", "[parser]") {
  const ParseLimits limits;
  Request get;
  CHECK(parse("get " + std::string(3000, 'k'), get, limits) == ParseStatus::need_more);
  Request junk;
  CHECK(parse(std::string(3000, 'j'), junk, limits) == ParseStatus::error);
  CHECK(junk.close);
  CHECK(junk.error.empty());
}

TEST_CASE("a refused meta set says how much value to swallow", "[parser]") {
  Request r;
  REQUIRE(parse("ms k 5 MX\r\n", r) == ParseStatus::error);
  CHECK(r.error == "CLIENT_ERROR invalid mode for ms M token");
  CHECK(r.swallow == 7);
  Request s;
  REQUIRE(parse("ms k x\r\n", s) == ParseStatus::error);
  CHECK(s.swallow == 0);
}
