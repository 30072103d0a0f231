// The stats operators' tools read (memcached-tool, memcached_exporter): `stats slabs`,
// `stats items`, `stats sizes`, `stats settings`, cmd_meta, `stats detail`, `stats reset`,
// and the operator commands `cache_memlimit` and `lru_crawler`. Field names and their
// order are memcached 1.6.18's (its slabs.c, items.c and memcached.c, checked against
// /usr/bin/memcached by tests/clients/stats_differential.py).
#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cache_options.hpp"
#include "support/cache_fixture.hpp"

using connkit::test::CacheFixture;
using connkit::test::Client;
using connkit::test::line_reply;
using connkit::test::stats_reply;

namespace {

/// The names of a stats reply's lines, in order ("STAT <name> <value>").
std::vector<std::string> names_of(const std::string& text) {
  std::vector<std::string> names;
  for (std::size_t at = text.find("STAT "); at != std::string::npos; at = text.find("STAT ", at + 1)) {
    const std::size_t end = text.find(' ', at + 5);
    names.push_back(text.substr(at + 5, end - at - 5));
  }
  return names;
}

/// name -> value of a stats reply.
std::map<std::string, std::string> values_of(const std::string& text) {
  std::map<std::string, std::string> values;
  for (std::size_t at = text.find("STAT "); at != std::string::npos; at = text.find("STAT ", at + 1)) {
    const std::size_t space = text.find(' ', at + 5);
    const std::size_t end = text.find("\r\n", space);
    values[text.substr(at + 5, space - at - 5)] = text.substr(space + 1, end - space - 1);
  }
  return values;
}

/// `names` with "<prefix>" put before each.
std::vector<std::string> prefixed(const std::string& prefix, std::initializer_list<const char*> names) {
  std::vector<std::string> out;
  for (const char* n : names) out.push_back(prefix + n);
  return out;
}

void set(Client& c, const std::string& key, std::size_t bytes) {
  EXPECT_REPLY(c, "set " + key + " 0 0 " + std::to_string(bytes) + "\r\n" + std::string(bytes, 'v') + "\r\n",
               "STORED\r\n");
}

// memcached 1.6.18's per-class lines, in its order.
const std::initializer_list<const char*> slab_fields = {
    "chunk_size", "chunks_per_page", "total_pages", "total_chunks", "used_chunks", "free_chunks", "free_chunks_end",
    "get_hits",   "cmd_set",         "delete_hits", "incr_hits",    "decr_hits",   "cas_hits",    "cas_badval",
    "touch_hits"};
const std::initializer_list<const char*> item_fields = {
    "number",          "number_hot",          "number_warm",       "number_cold",       "age_hot",
    "age_warm",        "age",                 "mem_requested",     "evicted",           "evicted_nonzero",
    "evicted_time",    "outofmemory",         "tailrepairs",       "reclaimed",         "expired_unfetched",
    "evicted_unfetched", "evicted_active",    "crawler_reclaimed", "crawler_items_checked", "lrutail_reflocked",
    "moves_to_cold",   "moves_to_warm",       "moves_within_lru",  "direct_reclaims",   "hits_to_hot",
    "hits_to_warm",    "hits_to_cold",        "hits_to_temp"};

}  // namespace

TEST_CASE("size classes are memcached's for the default -n and -f, and for others", "[cache][stats]") {
  // memcached 1.6.18 -vv: "slab class 1: chunk size 96 ... 39: chunk size 524288".
  const std::vector<std::uint64_t> memcached_defaults = {
      96,    120,   152,   192,   240,    304,    384,    480,    600,    752,    944,    1184,   1480,
      1856,  2320,  2904,  3632,  4544,   5680,   7104,   8880,   11104,  13880,  17352,  21696,  27120,
      33904, 42384, 52984, 66232, 82792, 103496, 129376, 161720, 202152, 252696, 315872, 394840, 524288};
  connkit::cache::Store store;
  const std::vector<connkit::cache::SlabClassStats> classes = store.class_stats();
  std::vector<std::uint64_t> sizes;
  for (const auto& c : classes) sizes.push_back(c.chunk_size);
  CHECK(sizes == memcached_defaults);
  CHECK(classes.front().id == 1);
  CHECK(classes.back().id == 39);
  CHECK(classes.back().chunks_per_page == 2);
  CHECK(classes.front().chunks_per_page == 10922);

  // memcached -n 100 -f 1.5: 152, 232, 352, ... 348840, 524288 (21 classes).
  connkit::cache::StoreOptions options;
  options.slab_chunk_min = 100;
  options.growth_factor = 1.5;
  connkit::cache::Store other(options);
  const auto tuned = other.class_stats();
  REQUIRE(tuned.size() == 21);
  CHECK(tuned[0].chunk_size == 152);
  CHECK(tuned[1].chunk_size == 232);
  CHECK(tuned[19].chunk_size == 348840);
  CHECK(tuned[20].chunk_size == 524288);
}

TEST_CASE("a class's age is the idle time of its least recently used item", "[cache][stats]") {
  std::int64_t now = 1700000000;
  connkit::cache::StoreOptions options;
  options.clock = [&now] { return now; };
  connkit::cache::Store store(options);
  REQUIRE(store.set("old", "x") == connkit::cache::StoreResult::stored);  // 102 bytes: class 2
  now += 50;
  REQUIRE(store.set("new", "y") == connkit::cache::StoreResult::stored);
  now += 10;
  connkit::cache::SlabClassStats c = store.class_stats()[1];
  CHECK(c.id == 2);
  CHECK(c.number == 2);
  CHECK(c.mem_requested == 204);
  CHECK(c.age == 60);
  CHECK(c.used_chunks == 2);
  REQUIRE(store.get("old"));  // used again (an LRU bump only after 60 s: not yet)
  CHECK(store.remove("old"));
  c = store.class_stats()[1];
  CHECK(c.number == 1);
  CHECK(c.age == 10);
  CHECK(c.used_chunks == 1);
  CHECK(c.free_chunks == 1);  // kept for the next item of the class
}

TEST_CASE("stats slabs and stats items list memcached's fields per class in use, ids ascending below 100",
          "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  set(c, "small", 100);
  set(c, "large", 3000);
  const std::string slabs = stats_reply(c, "stats slabs\r\n");
  const std::vector<std::string> names = names_of(slabs);
  // Two classes, each with memcached's 15 lines in order, then the totals.
  REQUIRE(names.size() == 2 * 15 + 2);
  const std::string first = names[0].substr(0, names[0].find(':') + 1);
  const std::string second = names[15].substr(0, names[15].find(':') + 1);
  const int a = std::stoi(first), b = std::stoi(second);
  CHECK(a >= 1);
  CHECK(a < b);  // ascending
  CHECK(b < 100);
  std::vector<std::string> expected = prefixed(first, slab_fields);
  for (const std::string& n : prefixed(second, slab_fields)) expected.push_back(n);
  expected.push_back("active_slabs");
  expected.push_back("total_malloced");
  CHECK(names == expected);
  const auto v = values_of(slabs);
  CHECK(v.at("active_slabs") == "2");
  CHECK(v.at(first + "total_pages") == "1");
  CHECK(v.at(first + "used_chunks") == "1");
  CHECK(v.at(first + "cmd_set") == "1");
  CHECK(v.at(second + "chunk_size") == "3632");  // memcached's class 17

  const std::string items = stats_reply(c, "stats items\r\n");
  expected = prefixed("items:" + first, item_fields);
  for (const std::string& n : prefixed("items:" + second, item_fields)) expected.push_back(n);
  CHECK(names_of(items) == expected);
  const auto iv = values_of(items);
  CHECK(iv.at("items:" + first + "number") == "1");
  CHECK(iv.at("items:" + first + "number_cold") == "1");
  CHECK(std::stoul(iv.at("items:" + first + "mem_requested")) > 100);

  CHECK(stats_reply(c, "stats sizes\r\n") == "STAT sizes_status disabled\r\nEND\r\n");
  // memcached ignores what follows the group's name.
  CHECK(names_of(stats_reply(c, "stats slabs 1\r\n")) == names);
}

TEST_CASE("per-class counters count hits by the item's class and stats reset clears them", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  set(c, "n", 1);
  EXPECT_REPLY(c, "get n\r\n", "VALUE n 0 1\r\nv\r\nEND\r\n");
  EXPECT_REPLY(c, "get missing\r\n", "END\r\n");
  EXPECT_REPLY(c, "touch n 100\r\n", "TOUCHED\r\n");
  EXPECT_REPLY(c, "set d 0 0 1\r\n5\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "incr d 1\r\n", "6\r\n");
  EXPECT_REPLY(c, "decr d 1\r\n", "5\r\n");
  EXPECT_REPLY(c, "delete d\r\n", "DELETED\r\n");
  EXPECT_REPLY(c, "delete d\r\n", "NOT_FOUND\r\n");
  EXPECT_REPLY(c, "mg n v\r\n", "VA 1\r\nv\r\n");
  // n and d (1-byte keys, 1-byte values: 100 bytes) share class 2 (120-byte chunks).
  auto v = values_of(stats_reply(c, "stats slabs\r\n"));
  CHECK(v.at("2:get_hits") == "2");
  CHECK(v.at("2:cmd_set") == "2");
  CHECK(v.at("2:touch_hits") == "1");
  CHECK(v.at("2:incr_hits") == "1");
  CHECK(v.at("2:decr_hits") == "1");
  CHECK(v.at("2:delete_hits") == "1");
  CHECK(values_of(stats_reply(c, "stats items\r\n")).at("items:2:hits_to_cold") == "3");

  EXPECT_REPLY(c, "stats reset\r\n", "RESET\r\n");
  v = values_of(stats_reply(c, "stats slabs\r\n"));
  CHECK(v.at("2:get_hits") == "0");
  CHECK(v.at("2:cmd_set") == "0");
  CHECK(v.at("2:used_chunks") == "1");  // a gauge: n is still there
  CHECK(values_of(stats_reply(c, "stats items\r\n")).at("items:2:number") == "1");
}

TEST_CASE("evictions are counted per class, with their expiry and idle time", "[cache][stats]") {
  CacheFixture f(2u << 20, 1u << 20);
  Client c = f.client();
  const std::string value(1000, 'x');
  for (int i = 0; i < 4000; ++i) {
    c.send_all("set k" + std::to_string(i) + " 0 100 1000 noreply\r\n" + value + "\r\n");
  }
  EXPECT_REPLY(c, "mn\r\n", "MN\r\n");
  const auto items = values_of(stats_reply(c, "stats items\r\n"));
  std::uint64_t evicted = 0, nonzero = 0, reclaims = 0;
  for (const auto& [name, value_text] : items) {
    if (name.ends_with(":evicted")) evicted += std::stoull(value_text);
    if (name.ends_with(":evicted_nonzero")) nonzero += std::stoull(value_text);
    if (name.ends_with(":direct_reclaims")) reclaims += std::stoull(value_text);
    if (name.ends_with(":evicted_time")) CHECK(value_text == "0");  // the clock did not move
  }
  CHECK(evicted > 0);
  CHECK(reclaims == evicted);  // every tail freed by an allocation was live
  CHECK(nonzero == evicted);  // every one had an expiry
  CHECK(evicted == f.endpoint->store_stats().evictions);
}

TEST_CASE("cmd_meta counts me only, as memcached 1.6.18", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms k 1\r\nx\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg k v\r\n", "VA 1\r\nx\r\n");
  EXPECT_REPLY(c, "ma n\r\n", "NF\r\n");
  EXPECT_REPLY(c, "mn\r\n", "MN\r\n");
  CHECK(values_of(stats_reply(c, "stats\r\n")).at("cmd_meta") == "0");
  CHECK(line_reply(c, "me k\r\n").rfind("ME k ", 0) == 0);
  EXPECT_REPLY(c, "me nokey\r\n", "EN\r\n");
  CHECK(values_of(stats_reply(c, "stats\r\n")).at("cmd_meta") == "2");
}

TEST_CASE("stats detail counts per prefix and stats reset forgets it", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "stats detail on\r\n", "OK\r\n");
  EXPECT_REPLY(c, "set foo:1 0 0 1\r\nx\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get foo:1 foo:2\r\n", "VALUE foo:1 0 1\r\nx\r\nEND\r\n");
  EXPECT_REPLY(c, "delete foo:nothing\r\n", "NOT_FOUND\r\n");
  EXPECT_REPLY(c, "get plain\r\n", "END\r\n");
  EXPECT_REPLY(c, "stats detail dump\r\n", "PREFIX foo get 2 hit 1 set 1 del 1\r\nEND\r\n");
  EXPECT_REPLY(c, "stats reset\r\n", "RESET\r\n");
  EXPECT_REPLY(c, "stats detail dump\r\n", "END\r\n");
  EXPECT_REPLY(c, "stats detail off\r\n", "OK\r\n");
  EXPECT_REPLY(c, "get foo:1\r\n", "VALUE foo:1 0 1\r\nx\r\nEND\r\n");
  EXPECT_REPLY(c, "stats detail dump\r\n", "END\r\n");
}

TEST_CASE("stats settings prints memcached's keys in memcached's order", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  const std::string text = stats_reply(c, "stats settings\r\n");
  // memcached 1.6.18's order; the keys it prints that mean nothing here are left out
  // (docs/cache.md), max_staged_bytes is connkit's own.
  CHECK(names_of(text) ==
        std::vector<std::string>{"maxbytes", "maxconns", "tcpport", "udpport", "inter", "verbosity", "evictions",
                                 "domain_socket", "umask", "shutdown_command", "growth_factor", "chunk_size",
                                 "num_threads", "num_threads_per_udp", "stat_key_prefix", "detail_enabled",
                                 "reqs_per_event", "cas_enabled", "tcp_backlog", "binding_protocol",
                                 "auth_enabled_sasl", "auth_enabled_ascii", "item_size_max", "maxconns_fast",
                                 "slab_reassign", "slab_automove", "slab_chunk_max", "lru_crawler", "flush_enabled",
                                 "dump_enabled", "lru_maintainer_thread", "lru_segmented", "temp_lru",
                                 "idle_timeout", "track_sizes", "ssl_enabled", "max_staged_bytes"});
  const auto v = values_of(text);
  CHECK(v.at("growth_factor") == "1.25");
  CHECK(v.at("chunk_size") == "48");
  CHECK(v.at("slab_chunk_max") == "524288");
  CHECK(v.at("dump_enabled") == "yes");
  CHECK(v.at("lru_crawler") == "yes");
}

TEST_CASE("cache_memlimit answers as memcached and changes the limit", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "cache_memlimit\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "cache_memlimit abc\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "cache_memlimit -5\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "cache_memlimit 7\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
  EXPECT_REPLY(c, "cache_memlimit 4294967296\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
  EXPECT_REPLY(c, "cache_memlimit 1000000001\r\n", "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n");
  EXPECT_REPLY(c, "cache_memlimit 64 x y\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "cache_memlimit 32 x\r\n", "OK\r\n");
  CHECK(values_of(stats_reply(c, "stats settings\r\n")).at("maxbytes") == "33554432");
  CHECK(values_of(stats_reply(c, "stats\r\n")).at("limit_maxbytes") == "33554432");
  c.send_all("cache_memlimit 8 noreply\r\n");
  EXPECT_REPLY(c, "mn\r\n", "MN\r\n");
  CHECK(f.store->memory_limit() == 8u << 20);

  // Lowered below what is held: memory comes back as later sets need room.
  const std::string value(2000, 'x');
  EXPECT_REPLY(c, "cache_memlimit 64\r\n", "OK\r\n");
  for (int i = 0; i < 16000; ++i) c.send_all("set k" + std::to_string(i) + " 0 0 2000 noreply\r\n" + value + "\r\n");
  EXPECT_REPLY(c, "mn\r\n", "MN\r\n");
  REQUIRE(f.store->stats().total_malloced > 16u << 20);
  EXPECT_REPLY(c, "cache_memlimit 8\r\n", "OK\r\n");
  for (int i = 0; i < 16000; ++i) c.send_all("set j" + std::to_string(i) + " 0 0 2000 noreply\r\n" + value + "\r\n");
  EXPECT_REPLY(c, "mn\r\n", "MN\r\n");
  CHECK(f.store->stats().total_malloced <= 8u << 20);
}

TEST_CASE("lru_crawler metadump all lists every item as memcached-tool reads it", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "lru_crawler metadump all\r\n", "END\r\n");
  EXPECT_REPLY(c, "set a 0 100 1\r\nx\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "set k%/: 0 0 1\r\ny\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
  const std::string dump = stats_reply(c, "lru_crawler metadump all\r\n");
  const std::string now = std::to_string(f.now.load());
  const std::string exp = std::to_string(f.now.load() + 100);
  // Lines end in "\n" alone, END in "\r\n"; the key is URI-encoded; exp and la are Unix times.
  CHECK(connkit::test::mask_numbers(dump, {"cas=", "size="}).find("key=a exp=" + exp + " la=" + now +
                                                                   " cas=# fetch=yes cls=2 size=#\n") !=
        std::string::npos);
  CHECK(dump.find("key=k%25%2F%3A exp=-1 la=" + now) != std::string::npos);
  CHECK(dump.size() > 5);
  CHECK(dump.substr(dump.size() - 5) == "END\r\n");
  CHECK(stats_reply(c, "lru_crawler metadump hash\r\n") == dump);
  CHECK(stats_reply(c, "lru_crawler metadump 2\r\n") == dump);
  EXPECT_REPLY(c, "lru_crawler metadump 1\r\n", "END\r\n");
  EXPECT_REPLY(c, "lru_crawler metadump 0\r\n", "BADCLASS invalid class id\r\n");
  EXPECT_REPLY(c, "lru_crawler metadump 99\r\n", "BADCLASS invalid class id\r\n");
  EXPECT_REPLY(c, "lru_crawler metadump foo\r\n", "BADCLASS invalid class id\r\n");
  EXPECT_REPLY(c, "lru_crawler metadump\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "lru_crawler metadump all noreply\r\n", "ERROR\r\n");
}

TEST_CASE("lru_crawler's other subcommands answer as memcached's", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "set gone 0 10 1\r\nx\r\n", "STORED\r\n");
  f.now += 20;
  EXPECT_REPLY(c, "lru_crawler crawl all\r\n", "OK\r\n");
  CHECK(f.endpoint->store_stats().curr_items == 0);  // the crawl freed the expired item
  EXPECT_REPLY(c, "lru_crawler crawl 1,2\r\n", "OK\r\n");
  EXPECT_REPLY(c, "lru_crawler crawl 99\r\n", "BADCLASS invalid class id\r\n");
  EXPECT_REPLY(c, "lru_crawler sleep 50\r\n", "OK\r\n");
  EXPECT_REPLY(c, "lru_crawler sleep 2000000\r\n", "CLIENT_ERROR sleep must be one second or less\r\n");
  EXPECT_REPLY(c, "lru_crawler sleep x\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "lru_crawler tocrawl 5\r\n", "OK\r\n");
  EXPECT_REPLY(c, "lru_crawler tocrawl x\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "lru_crawler\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "lru_crawler foo\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "lru_crawler enable\r\n", "ERROR failed to start lru crawler thread\r\n");
  EXPECT_REPLY(c, "lru_crawler disable\r\n", "OK\r\n");
  EXPECT_REPLY(c, "lru_crawler disable\r\n", "OK\r\n");
  CHECK(values_of(stats_reply(c, "stats settings\r\n")).at("lru_crawler") == "no");
  EXPECT_REPLY(c, "lru_crawler metadump all\r\n", "CLIENT_ERROR lru crawler disabled\r\n");
  EXPECT_REPLY(c, "lru_crawler crawl all\r\n", "CLIENT_ERROR lru crawler disabled\r\n");
  EXPECT_REPLY(c, "lru_crawler enable\r\n", "OK\r\n");
  EXPECT_REPLY(c, "lru_crawler metadump all\r\n", "END\r\n");
}

TEST_CASE("stats cachedump lists a class's items as memcached's item_cachedump", "[cache][stats]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "set a 0 0 5\r\nhello\r\n", "STORED\r\n");
  EXPECT_REPLY(c, "set b 0 100 3\r\nxyz\r\n", "STORED\r\n");
  const std::string exp = std::to_string(f.now.load() + 100);
  const std::string dump = stats_reply(c, "stats cachedump 2 0\r\n");
  CHECK(dump.find("ITEM a [5 b; 0 s]\r\n") != std::string::npos);
  CHECK(dump.find("ITEM b [3 b; " + exp + " s]\r\n") != std::string::npos);
  CHECK(dump.substr(dump.size() - 5) == "END\r\n");
  CHECK(names_of(dump).empty());
  const std::string one = stats_reply(c, "stats cachedump 2 1\r\n");
  CHECK(std::count(one.begin(), one.end(), '\n') == 2);
  EXPECT_REPLY(c, "stats cachedump 3 0\r\n", "END\r\n");
  EXPECT_REPLY(c, "stats cachedump 0 0\r\n", "END\r\n");
  EXPECT_REPLY(c, "stats cachedump 99 0\r\n", "CLIENT_ERROR Illegal slab id\r\n");
  EXPECT_REPLY(c, "stats cachedump x 0\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "stats cachedump 1\r\n", "CLIENT_ERROR bad command line\r\n");
}

TEST_CASE("dumping off (memcached -X) refuses lru_crawler metadump and stats cachedump", "[cache][stats]") {
  connkit::cache::EndpointOptions options;
  options.dump_enabled = false;
  CacheFixture f(64u << 20, 1u << 20, {}, 1, options);
  Client c = f.client();
  EXPECT_REPLY(c, "lru_crawler metadump all\r\n", "ERROR metadump not allowed\r\n");
  EXPECT_REPLY(c, "stats cachedump 1 0\r\n", "CLIENT_ERROR stats cachedump not allowed\r\n");
  CHECK(values_of(stats_reply(c, "stats settings\r\n")).at("dump_enabled") == "no");

  const char* argv[] = {"cache_server", "-X", "-n", "100", "-f", "1.5"};
  const connkit::examples::CliResult r = connkit::examples::parse_cache_server_command_line(6, argv);
  REQUIRE(r.action == connkit::examples::CliAction::run);
  CHECK_FALSE(r.config.endpoint.dump_enabled);
  CHECK(r.config.store.slab_chunk_min == 100);
  CHECK(r.config.store.growth_factor == 1.5);
  CHECK(r.config.ignored_options.empty());
}
