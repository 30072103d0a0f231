// The binary protocol's parse and compose steps on their own (parse_binary is a pure
// function: bytes in, a Request out), swept over every split point of a request stream;
// and the same stream through a socket in fragments of several sizes.
#include "cache/binary_compose.hpp"
#include "cache/binary_parser.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/binary_client.hpp"
#include "support/cache_fixture.hpp"

namespace detail = connkit::cache::detail;
using connkit::test::arith_extras;
using connkit::test::big_endian;
using connkit::test::BinRequest;
using connkit::test::BinResponse;
using connkit::test::encode;
using connkit::test::req;
using connkit::test::store_extras;
using detail::Command;
using detail::ParseStatus;

namespace {


/// Everything parse_binary said about one request, as one comparable line.
std::string summary(ParseStatus status, const detail::Request& r) {
  std::string s = status == ParseStatus::complete ? "complete" : status == ParseStatus::error ? "error" : "need_more";
  auto field = [&s](const char* name, auto value) { s.append(" ").append(name).append("=").append(std::to_string(value)); };
  field("command", static_cast<int>(r.command));
  s.append(" key=").append(r.key).append(" argument=").append(r.argument).append(" error=").append(r.error);
  field("size", r.size);
  field("value_size", r.value_size);
  field("flags", r.flags);
  field("exptime", r.exptime);
  field("cas", r.cas);
  field("mode", static_cast<int>(r.mode));
  field("delta", r.delta);
  field("initial", r.initial);
  field("create", r.create);
  field("noreply", r.noreply);
  field("has_exptime", r.has_exptime);
  field("close", r.close);
  field("status", r.binary_status);
  field("opcode", r.binary.opcode);
  field("opaque", r.binary.opaque);
  field("with_key", r.binary.with_key);
  return s;
}

std::string parse(std::string_view bytes) {
  detail::Request r;
  const ParseStatus status = detail::parse_binary({bytes.data(), bytes.size()}, r, detail::ParseLimits{});
  return summary(status, r);
}

/// What every request of `stream` parsed to, when its bytes arrive in two parts split at
/// `split`: parsed as far as the first part allows, then again with the rest. Values and
/// swallowed bodies are skipped as the connection would skip them.
std::vector<std::string> parse_stream(std::string_view stream, std::size_t split) {
  std::string buffer(stream.substr(0, split));
  bool all_in = split == stream.size();
  std::size_t skip = 0;
  std::vector<std::string> out;
  detail::Request r;
  for (;;) {
    const std::size_t drop = std::min(skip, buffer.size());
    buffer.erase(0, drop);
    skip -= drop;
    const ParseStatus status =
        skip != 0 ? ParseStatus::need_more : detail::parse_binary({buffer.data(), buffer.size()}, r, {});
    if (status == ParseStatus::need_more) {
      if (all_in) break;
      buffer.append(stream.substr(split));
      all_in = true;
      continue;
    }
    out.push_back(summary(status, r));
    if (status == ParseStatus::error && r.close) break;
    buffer.erase(0, r.size);
    skip = r.value_size;  // a storage value, or an unknown command's body
  }
  if (!buffer.empty() || skip != 0) out.push_back("left over: " + std::to_string(buffer.size() + skip));
  return out;
}

/// A stream of one request of each kind (and an unknown one with a body to swallow).
std::string mixed_stream() {
  std::string s;
  s += encode(req(0x01, "key", store_extras(7, 100), std::string(300, 'v'), 0, 1));     // SET
  s += encode(req(0x0c, "key", {}, {}, 0, 2));                                          // GETK
  s += encode(req(0x15, "n", arith_extras(3, 9, 0xffffffff), {}, 0, 3));               // INCREMENTQ
  s += encode(req(0x40, {}, {}, "body", 0, 4));                                         // unknown
  s += encode(req(0x0e, "key", {}, "tail", 12345, 5));                                  // APPEND with CAS
  s += encode(req(0x1d, "key", big_endian(60, 4), {}, 0, 6));                           // GAT
  s += encode(req(0x10, "settings", {}, {}, 0, 7));                                     // STAT
  s += encode(req(0x18, {}, big_endian(5, 4), {}, 0, 8));                               // FLUSHQ, delayed
  s += encode(req(0x12, "key", store_extras(1, 2), "v", 99, 9));                        // ADDQ with CAS
  s += encode(req(0x0a, {}, {}, {}, 0, 10));                                            // NOOP
  return s;
}

}  // namespace

TEST_CASE("parse_binary reads each opcode's extras, key and CAS into the request", "[cache][binary]") {
  detail::Request r;
  std::string bytes;  // outlives each parse: the request's key points into it
  auto parsed = [&r, &bytes](const BinRequest& request) {
    bytes = encode(request);
    return detail::parse_binary({bytes.data(), bytes.size()}, r, {});
  };
  REQUIRE(parsed(req(0x11, "k", store_extras(0xdeadbeef, 0xffffffff), "value", 0, 0x01020304)) == ParseStatus::complete);
  CHECK(r.command == Command::set);
  CHECK(r.noreply);
  CHECK(r.key == "k");
  CHECK(r.flags == 0xdeadbeef);
  CHECK(r.exptime == 0xffffffff);  // unsigned on the wire: never memcached's negative "expired"
  CHECK(r.value_size == 5);
  CHECK(r.size == 24 + 8 + 1);
  CHECK(r.mode == connkit::cache::StoreMode::set);
  CHECK(r.binary.opaque == 0x01020304);
  REQUIRE(parsed(req(0x03, "k", store_extras(0, 0), "v", 42)) == ParseStatus::complete);
  CHECK(r.command == Command::replace);
  CHECK(r.mode == connkit::cache::StoreMode::cas);
  CHECK(r.cas == 42);
  REQUIRE(parsed(req(0x06, "n", arith_extras(0x0102030405060708, 77, 30))) == ParseStatus::complete);
  CHECK(r.command == Command::decr);
  CHECK(r.delta == 0x0102030405060708);
  CHECK(r.initial == 77);
  CHECK(r.create);
  CHECK(r.exptime == 30);
  REQUIRE(parsed(req(0x05, "n", arith_extras(1, 0, 0xffffffff))) == ParseStatus::complete);
  CHECK_FALSE(r.create);
  REQUIRE(parsed(req(0x24, "k", big_endian(9, 4))) == ParseStatus::complete);
  CHECK(r.command == Command::gat);
  CHECK(r.binary.with_key);
  CHECK(r.noreply);
  CHECK(r.exptime == 9);
  REQUIRE(parsed(req(0x10, "detail dump")) == ParseStatus::complete);
  CHECK(r.command == Command::stats);
  CHECK(r.argument == "detail dump");
  REQUIRE(parsed(req(0x08, {}, big_endian(5, 4))) == ParseStatus::complete);
  CHECK(r.command == Command::flush_all);
  CHECK(r.has_exptime);
  CHECK(r.exptime == 5);
  REQUIRE(parsed(req(0x04, "k", {}, {}, 7)) == ParseStatus::complete);
  CHECK(r.command == Command::del);
  CHECK(r.cas == 7);
}

TEST_CASE("parse_binary's errors: what to answer, and whether to close or swallow", "[cache][binary]") {
  detail::Request r;
  std::string bytes;  // outlives each parse: the request's key points into it
  auto parsed = [&r, &bytes](const BinRequest& request) {
    bytes = encode(request);
    return detail::parse_binary({bytes.data(), bytes.size()}, r, {});
  };
  BinRequest bad_magic = req(0x0a);
  bad_magic.magic = 0x00;
  REQUIRE(parsed(bad_magic) == ParseStatus::error);
  CHECK(r.close);
  CHECK(r.binary_status == 0);  // no reply
  REQUIRE(parsed(req(0x00, std::string(251, 'k'))) == ParseStatus::error);
  CHECK(r.close);
  CHECK(r.binary_status == 0x04);
  CHECK(r.error == "Invalid arguments");
  REQUIRE(parsed(req(0x77, "key", "ex", "value")) == ParseStatus::error);
  CHECK_FALSE(r.close);
  CHECK(r.binary_status == 0x81);
  CHECK(r.size == 24);
  CHECK(r.value_size == 2 + 3 + 10);  // extras and key, then the body length again (memcached's swallow)
  // The header alone is enough to refuse: nothing waits for a key that will not be read.
  BinRequest long_key = req(0x00, std::string(300, 'k'));
  const std::string header = encode(long_key).substr(0, 24);
  CHECK(detail::parse_binary({header.data(), header.size()}, r, {}) == ParseStatus::error);
}

TEST_CASE("parse_binary needs the header, extras and key, and reads nothing past them", "[cache][binary]") {
  const std::string stream = mixed_stream();
  std::size_t at = 0;
  for (int i = 0; i < 4; ++i) {  // SET, GETK, INCREMENTQ, the unknown one
    detail::Request whole;
    const std::string_view rest = std::string_view(stream).substr(at);
    const ParseStatus status = detail::parse_binary({rest.data(), rest.size()}, whole, {});
    const std::string expected = summary(status, whole);
    const std::size_t needed = status == ParseStatus::complete ? whole.size : 24;
    for (std::size_t n = 0; n <= needed; ++n) {
      INFO("request " << i << ", " << n << " bytes");
      if (n < needed) {
        CHECK(parse(rest.substr(0, n)).substr(0, 10) == "need_more ");
      } else {
        CHECK(parse(rest.substr(0, n)) == expected);
      }
    }
    at += whole.size + whole.value_size;
  }
}

TEST_CASE("a request stream parses the same at every split point", "[cache][binary]") {
  const std::string stream = mixed_stream();
  static const std::vector<std::string> whole = parse_stream(stream, stream.size());
  REQUIRE(whole.size() == 10);
  const std::size_t split = GENERATE_COPY(range(std::size_t{0}, stream.size()));
  INFO("split at " << split);
  CHECK(parse_stream(stream, split) == whole);
}

TEST_CASE("binary response headers round-trip through a client's decoder", "[cache][binary]") {
  detail::BinaryResponse response;
  response.opcode = 0x0d;
  response.status = detail::BinaryStatus::key_eexists;
  response.key_length = 0x0102;
  response.extras_length = 4;
  response.body_length = 0x0a0b0c0d;
  response.opaque = 0xfeedf00d;
  response.cas = 0x1122334455667788;
  char bytes[24];
  CHECK(detail::write_binary_header(bytes, response) == bytes + 24);
  BinResponse decoded;
  CHECK(connkit::test::decode(std::string_view(bytes, 24), decoded) == 0);  // the body is not there
  CHECK(static_cast<unsigned char>(bytes[0]) == 0x81);
  CHECK(decoded.opcode == 0x0d);
  CHECK(decoded.status == 2);
  CHECK(decoded.keylen == 0x0102);
  CHECK(decoded.extlen == 4);
  CHECK(decoded.datatype == 0);
  CHECK(decoded.bodylen == 0x0a0b0c0d);
  CHECK(decoded.opaque == 0xfeedf00d);
  CHECK(decoded.cas == 0x1122334455667788);
  CHECK(detail::binary_error_text(detail::BinaryStatus::e2big) == "Too large.");
  CHECK(detail::binary_error_text(detail::BinaryStatus::auth_error) == "Auth failure.");
  CHECK(static_cast<int>(detail::BinaryStatus::auth_error) == 0x20);
}

TEST_CASE("a binary request stream sent in fragments of any size is answered the same", "[cache][binary]") {
  connkit::test::CacheFixture f(64u << 20, 1u << 20, {}, 1, {}, connkit::test::CacheListener::binary);
  connkit::test::Client c = f.client();
  const std::string stream = mixed_stream();
  const std::size_t fragment = GENERATE(1, 2, 3, 7, 23, 24, 25, 100, 4096);
  INFO("fragments of " << fragment);
  for (std::size_t at = 0; at < stream.size(); at += fragment) {
    REQUIRE(c.send_all(std::string_view(stream).substr(at, fragment)));
  }
  std::vector<std::string> replies;
  while (replies.size() < 9) {
    std::optional<BinResponse> r = connkit::test::read_response(c);
    if (!r) {
      replies.push_back("<none>");
      break;
    }
    if (r->opcode == 0x10 && r->keylen != 0) continue;  // the settings: their last packet stands for them
    if (r->value.size() > 32) r->value = std::to_string(r->value.size()) + " bytes";
    replies.push_back(connkit::test::describe(*r));
  }
  CHECK(replies == std::vector<std::string>{
                       "op=01 status=0 cas",
                       "op=0c status=0 key=key extras=7 value=300 bytes cas",
                       "op=15 status=1 value=Not found",
                       "op=40 status=129 value=Unknown command",
                       "op=0e status=2 value=Data exists for key.",
                       "op=1d status=0 extras=7 value=300 bytes cas",
                       "op=10 status=0",
                       "op=12 status=2 value=Data exists for key.",
                       "op=0a status=0",
                   });
  CHECK(connkit::test::call(c, req(0x0a)) == "op=0a status=0");
}
