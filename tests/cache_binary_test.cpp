// The cache endpoint's binary protocol over real sockets, against a binary-only listener.
// The expected replies are memcached 1.6.18's (`memcached -B binary`), read off the wire
// request by request: statuses, texts, which parts each reply carries, when it closes.
#include <connkit/cache/endpoint.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/binary_client.hpp"
#include "support/cache_fixture.hpp"

using connkit::test::arith_extras;
using connkit::test::BinRequest;
using connkit::test::BinResponse;
using connkit::test::CacheFixture;
using connkit::test::CacheListener;
using connkit::test::call;
using connkit::test::Client;
using connkit::test::describe;
using connkit::test::encode;
using connkit::test::req;
using connkit::test::from_big_endian;
using connkit::test::read_response;
using connkit::test::store_extras;

namespace {

// memcached's opcodes (protocol_binary.h).
namespace op {
constexpr std::uint8_t get = 0x00, set = 0x01, add = 0x02, replace = 0x03, del = 0x04, incr = 0x05, decr = 0x06,
                       quit = 0x07, flush = 0x08, getq = 0x09, noop = 0x0a, version = 0x0b, getk = 0x0c,
                       getkq = 0x0d, append = 0x0e, prepend = 0x0f, stat = 0x10, setq = 0x11, addq = 0x12,
                       deleteq = 0x14, incrq = 0x15, decrq = 0x16, quitq = 0x17, flushq = 0x18, appendq = 0x19,
                       verbosity = 0x1b, touch = 0x1c, gat = 0x1d, gatq = 0x1e, sasl_list = 0x20, sasl_auth = 0x21,
                       gatk = 0x23, gatkq = 0x24;
}


BinRequest set(const std::string& key, const std::string& value, std::uint32_t flags = 0, std::uint64_t cas = 0) {
  return req(op::set, key, store_extras(flags, 0), value, cas);
}

/// A fixture whose listener speaks the binary protocol only, and a client of it.
struct BinaryCache {
  explicit BinaryCache(connkit::cache::EndpointOptions options = {}, std::size_t item_max = 1u << 20)
      : f(64u << 20, item_max, {}, 1, std::move(options), CacheListener::binary), c(f.client()) {}
  CacheFixture f;
  Client c;
};

/// Sends every request in one write and describes the next `replies` responses.
std::vector<std::string> pipeline(Client& c, const std::vector<BinRequest>& requests, std::size_t replies) {
  std::string bytes;
  for (const BinRequest& r : requests) bytes += encode(r);
  std::vector<std::string> out;
  if (!c.send_all(bytes)) return out;
  for (std::size_t i = 0; i < replies; ++i) {
    const std::optional<BinResponse> r = read_response(c);
    out.push_back(r ? describe(*r) : "<none>");
  }
  return out;
}

/// The CAS a GET of `key` reports (0 on a miss).
std::uint64_t cas_of(Client& c, const std::string& key) {
  c.send_all(encode(req(op::get, key)));
  const std::optional<BinResponse> r = read_response(c);
  return r && r->status == 0 ? r->cas : 0;
}

/// INCREMENT/DECREMENT's new value (or ~0 if it failed).
std::uint64_t arith(Client& c, std::uint8_t opcode, const std::string& key, std::uint64_t delta,
                    std::uint64_t initial = 0, std::uint32_t exptime = 0) {
  c.send_all(encode(req(opcode, key, arith_extras(delta, initial, exptime))));
  const std::optional<BinResponse> r = read_response(c);
  return r && r->status == 0 && r->value.size() == 8 ? from_big_endian(r->value) : ~std::uint64_t{0};
}

}  // namespace

TEST_CASE("binary gets carry flags and CAS, the key only for GETK, and quiet misses send nothing",
          "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  CHECK(call(c, set("k", "vv", 7)) == "op=01 status=0 cas");
  CHECK(call(c, req(op::get, "k")) == "op=00 status=0 extras=7 value=vv cas");
  CHECK(call(c, req(op::getk, "k")) == "op=0c status=0 key=k extras=7 value=vv cas");
  CHECK(call(c, req(op::get, "nope")) == "op=00 status=1 value=Not found");
  CHECK(call(c, req(op::getk, "nope")) == "op=0c status=1 key=nope");  // the key as body, no text
  CHECK(pipeline(c, {req(op::getq, "nope"), req(op::getkq, "nope"), req(op::getq, "k"), req(op::getkq, "k"),
                     req(op::noop)}, 3) ==
        std::vector<std::string>{"op=09 status=0 extras=7 value=vv cas", "op=0d status=0 key=k extras=7 value=vv cas",
                                 "op=0a status=0"});
  // The opaque comes back as sent; the CAS is the one SET reported.
  BinRequest r = set("o", "x");
  r.opaque = 0xdeadbeef;
  c.send_all(encode(r));
  const std::optional<BinResponse> stored = read_response(c);
  REQUIRE(stored);
  CHECK(stored->opaque == 0xdeadbeef);
  CHECK(cas_of(c, "o") == stored->cas);
  // A large value (sent from the item, not copied) arrives whole.
  const std::string big(100000, 'b');
  CHECK(call(c, set("big", big)) == "op=01 status=0 cas");
  const std::string got = call(c, req(op::get, "big"));
  const std::string expected = "op=00 status=0 extras=0 value=" + big + " cas";
  CHECK(got.size() == expected.size());
  CHECK((got == expected));  // not decomposed: 100 kB
  const auto stats = b.f.endpoint->command_stats();
  CHECK(stats.cmd_get == 10);
  CHECK(stats.get_hits == 6);
  CHECK(stats.get_misses == 4);
}

TEST_CASE("binary set, add and replace answer as memcached, a CAS making any of them a cas", "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  CHECK(call(c, req(op::replace, "k", store_extras(0, 0), "x")) == "op=03 status=1 value=Not found");
  CHECK(call(c, req(op::add, "k", store_extras(1, 0), "a")) == "op=02 status=0 cas");
  CHECK(call(c, req(op::add, "k", store_extras(1, 0), "b")) == "op=02 status=2 value=Data exists for key.");
  CHECK(call(c, req(op::replace, "k", store_extras(2, 0), "c")) == "op=03 status=0 cas");
  CHECK(call(c, req(op::get, "k")) == "op=00 status=0 extras=2 value=c cas");
  const std::uint64_t unique = cas_of(c, "k");
  CHECK(call(c, set("k", "d", 0, unique + 1)) == "op=01 status=2 value=Data exists for key.");
  CHECK(call(c, req(op::add, "k", store_extras(0, 0), "d", unique + 1)) == "op=02 status=2 value=Data exists for key.");
  CHECK(call(c, set("nope", "d", 0, unique)) == "op=01 status=1 value=Not found");
  CHECK(call(c, req(op::add, "nope", store_extras(0, 0), "d", unique)) == "op=02 status=1 value=Not found");
  CHECK(call(c, req(op::replace, "k", store_extras(3, 0), "e", unique)) == "op=03 status=0 cas");
  CHECK(cas_of(c, "k") != unique);
  // Quiet forms: nothing on success, the error still.
  CHECK(pipeline(c, {req(op::setq, "q", store_extras(0, 0), "1"), req(op::addq, "q", store_extras(0, 0), "2"),
                     req(op::noop)}, 2) ==
        std::vector<std::string>{"op=12 status=2 value=Data exists for key.", "op=0a status=0"});
  CHECK(call(c, req(op::get, "q")) == "op=00 status=0 extras=0 value=1 cas");
  const auto stats = b.f.endpoint->command_stats();
  CHECK(stats.cas_badval == 2);
  CHECK(stats.cas_misses == 2);
  CHECK(stats.cas_hits == 1);
}

TEST_CASE("binary append and prepend keep the old flags, compare a CAS, and report the joined item's CAS",
          "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  CHECK(call(c, req(op::append, "k", {}, "x")) == "op=0e status=5 value=Not stored.");
  CHECK(call(c, req(op::prepend, "k", {}, "x")) == "op=0f status=5 value=Not stored.");
  CHECK(call(c, set("k", "mid", 9)) == "op=01 status=0 cas");
  c.send_all(encode(req(op::append, "k", {}, ">")));
  const std::optional<BinResponse> appended = read_response(c);
  REQUIRE(appended);
  CHECK(describe(*appended) == "op=0e status=0 cas");
  CHECK(appended->cas == cas_of(c, "k"));
  CHECK(call(c, req(op::prepend, "k", {}, "<", cas_of(c, "k") + 1)) == "op=0f status=2 value=Data exists for key.");
  CHECK(call(c, req(op::prepend, "k", {}, "<", cas_of(c, "k"))) == "op=0f status=0 cas");
  CHECK(pipeline(c, {req(op::appendq, "k", {}, "!"), req(op::noop)}, 1) == std::vector<std::string>{"op=0a status=0"});
  CHECK(call(c, req(op::get, "k")) == "op=00 status=0 extras=9 value=<mid>! cas");
}

TEST_CASE("binary delete compares a CAS, and its quiet form reports only a miss", "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  CHECK(call(c, req(op::del, "k")) == "op=04 status=1 value=Not found");
  CHECK(call(c, set("k", "v")) == "op=01 status=0 cas");
  const std::uint64_t unique = cas_of(c, "k");
  CHECK(call(c, req(op::del, "k", {}, {}, unique + 1)) == "op=04 status=2 value=Data exists for key.");
  CHECK(call(c, req(op::del, "k", {}, {}, unique)) == "op=04 status=0");
  CHECK(call(c, set("k", "v")) == "op=01 status=0 cas");
  CHECK(pipeline(c, {req(op::deleteq, "k"), req(op::deleteq, "k"), req(op::noop)}, 2) ==
        std::vector<std::string>{"op=14 status=1 value=Not found", "op=0a status=0"});
  const auto stats = b.f.endpoint->command_stats();
  CHECK(stats.delete_hits == 2);
  CHECK(stats.delete_misses == 2);  // the CAS mismatch counts neither
}

TEST_CASE("binary incr and decr create from the initial value, wrap, floor, and refuse text", "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  CHECK(arith(c, op::incr, "n", 1, 5) == 5);  // created from the initial value
  CHECK(call(c, req(op::get, "n")) == "op=00 status=0 extras=0 value=5 cas");
  const std::uint64_t before = cas_of(c, "n");
  c.send_all(encode(req(op::incr, "n", arith_extras(1, 0, 0))));
  const std::optional<BinResponse> r = read_response(c);
  REQUIRE(r);
  CHECK(describe(*r) == "op=05 status=0 value=" + std::string("\0\0\0\0\0\0\0\x06", 8) + " cas");
  CHECK(r->cas != before);
  CHECK(r->cas == cas_of(c, "n"));
  CHECK(call(c, req(op::incr, "none", arith_extras(1, 0, 0xffffffff))) == "op=05 status=1 value=Not found");
  CHECK(call(c, req(op::decr, "none", arith_extras(1, 0, 0xffffffff))) == "op=06 status=1 value=Not found");
  CHECK(arith(c, op::incr, "w", 0, 0xfffffffffffffffe) == 0xfffffffffffffffe);
  CHECK(arith(c, op::incr, "w", 3) == 1);  // 64-bit wrap
  CHECK(arith(c, op::decr, "d", 0, 3) == 3);
  CHECK(arith(c, op::decr, "d", 10) == 0);  // floor
  CHECK(call(c, set("t", "abc")) == "op=01 status=0 cas");
  CHECK(call(c, req(op::incr, "t", arith_extras(1, 0, 0))) ==
        "op=05 status=6 value=Non-numeric server-side value for incr or decr");
  CHECK(call(c, req(op::incr, "n", arith_extras(1, 0, 0), {}, cas_of(c, "n") + 1)) ==
        "op=05 status=2 value=Data exists for key.");
  CHECK(pipeline(c, {req(op::incrq, "n", arith_extras(10, 0, 0)), req(op::decrq, "q", arith_extras(1, 7, 0)),
                     req(op::noop)}, 1) == std::vector<std::string>{"op=0a status=0"});
  CHECK(arith(c, op::incr, "n", 0) == 16);
  CHECK(arith(c, op::incr, "q", 0) == 7);
  // A value created with an expiry expires.
  CHECK(arith(c, op::incr, "e", 1, 40, 10) == 40);
  b.f.now += 11;
  CHECK(call(c, req(op::get, "e")) == "op=00 status=1 value=Not found");
  const auto stats = b.f.endpoint->command_stats();
  CHECK(stats.incr_misses == 1);  // only the miss that did not create
  CHECK(stats.decr_misses == 1);
}

TEST_CASE("binary touch and gat set the expiry: touch replies with the flags only, gat like get", "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  const std::string ten = connkit::test::big_endian(10, 4);
  CHECK(call(c, req(op::touch, "k", ten)) == "op=1c status=1 value=Not found");
  CHECK(call(c, req(op::gatk, "k", ten)) == "op=23 status=1 key=k");
  CHECK(call(c, set("k", "vv", 7)) == "op=01 status=0 cas");
  CHECK(call(c, req(op::touch, "k", ten)) == "op=1c status=0 extras=7 cas");
  CHECK(call(c, req(op::gat, "k", ten)) == "op=1d status=0 extras=7 value=vv cas");
  CHECK(call(c, req(op::gatk, "k", ten)) == "op=23 status=0 key=k extras=7 value=vv cas");
  CHECK(pipeline(c, {req(op::gatq, "nope", ten), req(op::gatkq, "k", ten), req(op::noop)}, 2) ==
        std::vector<std::string>{"op=24 status=0 key=k extras=7 value=vv cas", "op=0a status=0"});
  b.f.now += 11;
  CHECK(call(c, req(op::get, "k")) == "op=00 status=1 value=Not found");
  const auto stats = b.f.endpoint->command_stats();
  CHECK(stats.cmd_touch == 7);
  CHECK(stats.touch_hits == 4);
  CHECK(stats.touch_misses == 3);
}

TEST_CASE("binary flush now or later, quietly, and refused with Auth failure when disabled", "[cache][binary]") {
  SECTION("enabled") {
    BinaryCache b;
    Client& c = b.c;
    CHECK(call(c, set("x", "1")) == "op=01 status=0 cas");
    CHECK(call(c, req(op::flush)) == "op=08 status=0");
    CHECK(call(c, req(op::get, "x")) == "op=00 status=1 value=Not found");
    CHECK(call(c, set("x", "1")) == "op=01 status=0 cas");
    CHECK(pipeline(c, {req(op::flushq), req(op::noop)}, 1) == std::vector<std::string>{"op=0a status=0"});
    CHECK(call(c, req(op::get, "x")) == "op=00 status=1 value=Not found");
    CHECK(call(c, set("y", "1")) == "op=01 status=0 cas");
    CHECK(call(c, req(op::flush, {}, connkit::test::big_endian(5, 4))) == "op=08 status=0");
    CHECK(call(c, req(op::get, "y")) == "op=00 status=0 extras=0 value=1 cas");
    b.f.now += 6;
    CHECK(call(c, req(op::get, "y")) == "op=00 status=1 value=Not found");
    CHECK(b.f.endpoint->command_stats().cmd_flush == 3);
  }
  SECTION("disabled (-F)") {
    connkit::cache::EndpointOptions options;
    options.flush_enabled = false;
    BinaryCache b(options);
    CHECK(call(b.c, req(op::flush)) == "op=08 status=32 value=Auth failure.");
    CHECK(call(b.c, req(op::flushq)) == "op=18 status=32 value=Auth failure.");
    CHECK(b.f.endpoint->command_stats().cmd_flush == 0);  // memcached's binary flush counts only a flush
  }
}

TEST_CASE("binary noop, version, quit and quitq", "[cache][binary]") {
  BinaryCache b;
  CHECK(call(b.c, req(op::noop)) == "op=0a status=0");
  CHECK(call(b.c, req(op::version)) == "op=0b status=0 value=" + b.f.endpoint->options().version);
  CHECK(call(b.c, req(op::quit)) == "op=07 status=0");
  CHECK(b.c.wait_closed());
  // QUITQ says nothing, but what was queued before it is still sent.
  Client c = b.f.client();
  CHECK(call(c, set("k", "v")) == "op=01 status=0 cas");
  CHECK(pipeline(c, {req(op::getkq, "k"), req(op::quitq)}, 1) ==
        std::vector<std::string>{"op=0d status=0 key=k extras=0 value=v cas"});
  CHECK(c.wait_closed());
}

namespace {

/// STAT packets up to the empty one that ends them, as name -> value; "<error N>" alone if
/// the group is refused.
std::map<std::string, std::string> stat_group(Client& c, const std::string& group, std::size_t* packets = nullptr) {
  BinRequest r = req(op::stat, group);
  r.opaque = 77;
  c.send_all(encode(r));
  std::map<std::string, std::string> out;
  std::size_t n = 0;
  for (;;) {
    const std::optional<BinResponse> p = read_response(c);
    if (!p) return {{"<none>", ""}};
    ++n;
    if (p->status != 0) return {{"<error " + std::to_string(p->status) + ">", p->value}};
    if (p->opcode != op::stat || p->opaque != 77) return {{"<bad packet>", describe(*p)}};
    if (p->key.empty() && p->value.empty()) break;
    out[p->key] = p->value;
  }
  if (packets != nullptr) *packets = n;
  return out;
}

}  // namespace

TEST_CASE("binary stat: the text stats as key/value packets ending with an empty one, groups by prefix",
          "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  CHECK(call(c, set("k", "v")) == "op=01 status=0 cas");
  CHECK(call(c, req(op::get, "k")) == "op=00 status=0 extras=0 value=v cas");
  std::map<std::string, std::string> general = stat_group(c, "");
  CHECK(general["cmd_get"] == "1");
  CHECK(general["cmd_set"] == "1");
  CHECK(general["curr_items"] == "1");
  CHECK(general["version"] == b.f.endpoint->options().version);
  CHECK(general.count("curr_connections") == 1);
  std::map<std::string, std::string> settings = stat_group(c, "settings");
  CHECK(settings["maxconns"] == "1024");
  CHECK(settings["domain_socket"] == "NULL");
  CHECK(settings["evictions"] == "on");
  CHECK(settings["cas_enabled"] == "yes");
  CHECK(settings["flush_enabled"] == "yes");
  CHECK(settings["item_size_max"] == "1048576");
  std::size_t packets = 0;
  CHECK(stat_group(c, "reset", &packets).empty());
  CHECK(packets == 1);
  CHECK(stat_group(c, "")["cmd_get"] == "0");
  CHECK(stat_group(c, "detail dump") == std::map<std::string, std::string>{{"detailed", "END\r\n"}});
  CHECK(stat_group(c, "detail on", &packets).empty());
  // With detail on, binary gets, sets and deletes count per prefix as text ones do.
  CHECK(call(c, set("p:a", "v")) == "op=01 status=0 cas");
  CHECK(call(c, req(op::get, "p:a")) == "op=00 status=0 extras=0 value=v cas");
  CHECK(call(c, req(op::get, "p:b")).rfind("op=00 status=1", 0) == 0);
  CHECK(call(c, req(op::del, "p:zz")).rfind("op=04 status=1", 0) == 0);
  CHECK(stat_group(c, "detail dump") ==
        std::map<std::string, std::string>{{"detailed", "PREFIX p get 2 hit 1 set 1 del 1\r\nEND\r\n"}});
  CHECK(stat_group(c, "detail off").empty());
  const std::map<std::string, std::string> not_found{{"<error 1>", "Not found"}};
  CHECK(stat_group(c, "detail") == not_found);
  CHECK(stat_group(c, "conns") == not_found);  // text-only in memcached
  // The class groups, as in memcached (p:a's 102 bytes take a 120-byte chunk: class 2).
  CHECK(stat_group(c, "items").count("items:2:number") == 1);
  CHECK(stat_group(c, "slabs").count("2:used_chunks") == 1);
  CHECK(stat_group(c, "sizes")["sizes_status"] == "disabled");
  CHECK(stat_group(c, "itemsfoo") == not_found);  // exact names, unlike settings
  CHECK(stat_group(c, "bogus") == not_found);
  CHECK(stat_group(c, "settingsfoo")["maxconns"] == "1024");  // memcached matches the prefix
}

TEST_CASE("binary headers memcached refuses: bad magic closes at once, a bad shape answers and closes",
          "[cache][binary]") {
  BinaryCache b;
  SECTION("a magic other than 0x80 closes with no reply, once 24 bytes are in") {
    BinRequest r = req(op::noop);
    r.magic = 0x81;
    CHECK(b.c.send_all(encode(r)));
    CHECK(b.c.wait_closed());
    Client ascii = b.f.client();
    CHECK(ascii.send_all("get foo\r\n"));     // 9 bytes: memcached waits for a whole header
    CHECK(ascii.send_all(std::string(15, ' ')));
    CHECK(ascii.wait_closed());
  }
  SECTION("a body shorter than key and extras: Unknown command, then close") {
    BinRequest r = req(op::get, "abcde");
    r.bodylen = 3;
    CHECK(call(b.c, r) == "op=00 status=129 value=Unknown command");
    CHECK(b.c.wait_closed());
  }
  SECTION("a key over 250 bytes: Invalid arguments, then close") {
    CHECK(call(b.c, req(op::get, std::string(250, 'k'))) == "op=00 status=1 value=Not found");
    CHECK(call(b.c, req(op::getq, std::string(251, 'k'))) == "op=09 status=4 value=Invalid arguments");
    CHECK(b.c.wait_closed());
  }
  SECTION("each opcode's extras, key and body rules") {
    const std::string four(4, '\0');
    BinRequest noop_body = req(op::noop, {}, {}, "x");
    BinRequest quit_body = req(op::quit, {}, {}, "x");
    const std::vector<BinRequest> bad{
        req(op::get, "k", four),   req(op::get),  req(op::getk, "k", {}, "xx"), req(op::set, "k", {}, "v"),
        req(op::set, {}, store_extras(0, 0), "v"), req(op::add, "k", four, "v"), noop_body,
        req(op::version, "k"),     req(op::del, "k", four), req(op::incr, "k", std::string(8, '\0')),
        req(op::decr, "k", arith_extras(1, 0, 0), "x"), req(op::touch, "k"), req(op::gat, {}, four),
        req(op::flush, "k"),       req(op::flush, {}, std::string(2, '\0')), req(op::append, "k", four, "v"),
        req(op::appendq),          req(op::stat, {}, four), quit_body, req(op::sasl_auth), req(op::sasl_list, "k")};
    for (const BinRequest& r : bad) {
      Client c = b.f.client();
      char expected[64];
      std::snprintf(expected, sizeof expected, "op=%02x status=4 value=Invalid arguments", r.opcode);
      CHECK(call(c, r) == expected);
      CHECK(c.wait_closed());
    }
  }
}

TEST_CASE("binary unknown opcodes answer Unknown command, swallow as memcached does, and go on", "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  CHECK(pipeline(c, {req(0x40), req(0x40, {}, {}, "12345"), req(op::sasl_list), req(op::noop)}, 4) ==
        std::vector<std::string>{"op=40 status=129 value=Unknown command", "op=40 status=129 value=Unknown command",
                                 "op=20 status=129 value=Unknown command", "op=0a status=0"});
  // memcached 1.6.18 has no VERBOSITY; it takes the extras, then swallows the body length
  // more: four bytes of whatever follows.
  CHECK(c.send_all(encode(req(op::verbosity, {}, std::string("\0\0\0\1", 4))) + "JUNK" + encode(req(op::noop))));
  for (const char* expected : {"op=1b status=129 value=Unknown command", "op=0a status=0"}) {
    const std::optional<BinResponse> r = read_response(c);
    CHECK((r ? describe(*r) : "<none>") == expected);
  }
  CHECK(call(c, req(op::noop)) == "op=0a status=0");
}

TEST_CASE("a binary value over the item size limit is refused with E2BIG and swallowed, and a SET's old value goes",
          "[cache][binary]") {
  BinaryCache b({}, 64u << 10);
  Client& c = b.c;
  const std::string big(64u << 10, 'x');
  CHECK(call(c, set("k", "old")) == "op=01 status=0 cas");
  CHECK(pipeline(c, {req(op::add, "k", store_extras(0, 0), big), req(op::get, "k")}, 2) ==
        std::vector<std::string>{"op=02 status=3 value=Too large.", "op=00 status=0 extras=0 value=old cas"});
  CHECK(pipeline(c, {set("k", big), req(op::get, "k")}, 2) ==
        std::vector<std::string>{"op=01 status=3 value=Too large.", "op=00 status=1 value=Not found"});
  CHECK(call(c, set("k", "old")) == "op=01 status=0 cas");
  CHECK(pipeline(c, {set("k", big, 0, cas_of(c, "k")), req(op::get, "k")}, 2) ==
        std::vector<std::string>{"op=01 status=3 value=Too large.", "op=00 status=1 value=Not found"});
  // A body length far past the limit is answered at once: the server does not wait for (or
  // keep) the value, it discards it as it comes.
  BinRequest liar = set("k", "");
  liar.bodylen = 0x7fffffff;
  CHECK(call(c, liar) == "op=01 status=3 value=Too large.");
  CHECK(b.f.endpoint->command_stats().store_too_large == 0);  // memcached's binary path counts none
}

TEST_CASE("1,000 GETKQ then a NOOP return exactly the hits, in order, then the NOOP", "[cache][binary]") {
  BinaryCache b;
  Client& c = b.c;
  std::vector<BinRequest> sets;
  for (int i = 0; i < 1000; i += 7) sets.push_back(set("key:" + std::to_string(i), "value " + std::to_string(i)));
  REQUIRE(pipeline(c, sets, sets.size()) == std::vector<std::string>(sets.size(), "op=01 status=0 cas"));
  std::vector<BinRequest> gets;
  std::vector<std::string> expected;
  for (int i = 0; i < 1000; ++i) {
    gets.push_back(req(op::getkq, "key:" + std::to_string(i)));
    gets.back().opaque = static_cast<std::uint32_t>(i);
    if (i % 7 == 0) {
      expected.push_back("op=0d status=0 key=key:" + std::to_string(i) + " extras=0 value=value " + std::to_string(i) +
                         " cas");
    }
  }
  gets.push_back(req(op::noop));
  expected.push_back("op=0a status=0");
  CHECK(pipeline(c, gets, expected.size()) == expected);
  CHECK(call(c, req(op::noop)) == "op=0a status=0");  // and nothing else was sent
}

TEST_CASE("binary with CAS off (-C): replies carry CAS 0, a stored CAS is ignored, a compared one fails",
          "[cache][binary]") {
  connkit::cache::EndpointOptions options;
  options.cas_enabled = false;
  BinaryCache b(options);
  Client& c = b.c;
  CHECK(call(c, set("k", "v", 0, 12345)) == "op=01 status=0");  // a plain set: nothing to compare
  CHECK(call(c, req(op::get, "k")) == "op=00 status=0 extras=0 value=v");
  CHECK(call(c, req(op::append, "k", {}, "w", 12345)) == "op=0e status=0");
  CHECK(call(c, req(op::del, "k", {}, {}, 12345)) == "op=04 status=2 value=Data exists for key.");
  CHECK(call(c, req(op::incr, "n", arith_extras(1, 3, 0))) == "op=05 status=0 value=" + std::string(7, '\0') + "\3");
  CHECK(call(c, req(op::incr, "n", arith_extras(1, 3, 0), {}, 1)) == "op=05 status=2 value=Data exists for key.");
  CHECK(call(c, req(op::del, "k")) == "op=04 status=0");
}
