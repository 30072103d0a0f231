// Zero heap allocations per request in steady state on the cache endpoint: get hits and
// misses, set overwrites (same size and mixed sizes of one size class), multi-gets of 10
// and 100 keys and pipelined batches, and the binary protocol's gets, quiet get batches,
// sets, incr and delete, over a real loopback socket; UDP gets and sets of one and several
// datagrams. Its own executable (see
// support/count_allocations.hpp). The client side sends preformatted requests and receives
// into a fixed buffer, so every allocation counted in the measured window is the server's.
#include "support/count_allocations.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "support/binary_client.hpp"
#include "support/cache_fixture.hpp"

using connkit::test::allocations;
using connkit::test::CacheFixture;
using connkit::test::Client;

namespace {

/// One request and the exact reply it must get.
struct Exchange {
  std::string request;
  std::string reply;
};

char reply_buffer[1 << 17];

/// Sends each request and checks its reply, `rounds` times; returns the mismatches.
/// Allocates nothing: the strings are made beforehand, replies land in reply_buffer.
long run(Client& c, const std::vector<Exchange>& exchanges, int rounds) {
  long bad = 0;
  for (int i = 0; i < rounds; ++i) {
    for (const Exchange& e : exchanges) {
      std::size_t got = 0;
      if (!c.send_all(e.request) || !c.recv_exact(reply_buffer, e.reply.size(), got) ||
          std::memcmp(reply_buffer, e.reply.data(), e.reply.size()) != 0) {
        ++bad;
      }
    }
  }
  return bad;
}

/// The parts joined (append() rather than operator+, which trips g++ 12's -Wrestrict).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (s.append(std::string_view(parts)), ...);
  return s;
}

std::string key(int i) { return cat("key:", std::to_string(i)); }
std::string value_of(int i, std::size_t size) { return std::string(size, static_cast<char>('a' + i % 26)); }

Exchange set(const std::string& k, const std::string& v) {
  return {cat("set ", k, " 7 0 ", std::to_string(v.size()), "\r\n", v, "\r\n"), "STORED\r\n"};
}
std::string hit(const std::string& k, const std::string& v) {
  return cat("VALUE ", k, " 7 ", std::to_string(v.size()), "\r\n", v, "\r\n");
}
Exchange multi_get(int first, int count, std::size_t size) {
  Exchange e{"get", ""};
  for (int i = first; i < first + count; ++i) {
    e.request += cat(" ", key(i));
    e.reply += hit(key(i), value_of(i, size));
  }
  e.request += "\r\n";
  e.reply += "END\r\n";
  return e;
}

/// A cache with keys 0..199 holding 32-byte values.
struct Loaded {
  static constexpr std::size_t value_size = 32;
  CacheFixture f;
  Client c = f.client();
  Loaded() {
    std::vector<Exchange> load;
    for (int i = 0; i < 200; ++i) load.push_back(set(key(i), value_of(i, value_size)));
    REQUIRE(run(c, load, 1) == 0);
  }
};

/// Warms `exchanges` up (pools, free lists and buffers reach their steady sizes), then runs
/// them again and returns the allocations counted meanwhile; `bad` gets the mismatches.
long allocations_in_steady_state(Client& c, const std::vector<Exchange>& exchanges, int rounds, long& bad) {
  bad = run(c, exchanges, rounds);
  const long before = allocations.load();
  bad += run(c, exchanges, rounds);
  return allocations.load() - before;
}

}  // namespace

TEST_CASE("get hits and misses and set overwrites make no heap allocation in steady state", "[cache][alloc]") {
  Loaded l;
  std::vector<Exchange> mix;
  for (int i = 0; i < 20; ++i) {
    const std::string v = value_of(i, Loaded::value_size);
    mix.push_back({cat("get ", key(i), "\r\n"), cat(hit(key(i), v), "END\r\n")});
    mix.push_back({cat("get missing:", std::to_string(i), "\r\n"), "END\r\n"});
    mix.push_back(set(key(i), v));
    mix.push_back({cat("gets missing:", std::to_string(i), "\r\n"), "END\r\n"});
  }
  long bad = 0;
  const long counted = allocations_in_steady_state(l.c, mix, 250, bad);  // 20,000 requests measured
  CHECK(bad == 0);
  CHECK(counted == 0);
}

TEST_CASE("set overwrites with sizes that vary within a size class make no heap allocation", "[cache][alloc]") {
  Loaded l;
  // Items of 96 + 6 + v + 2 bytes: with v from 90 to 130 all fall in one class. `me`
  // reports the class, so the test checks that premise rather than assuming it.
  const std::size_t sizes[] = {92, 100, 110, 120, 130};
  std::vector<Exchange> mix;
  for (int i = 0; i < 50; ++i) {
    const std::string k = cat("mix:", std::to_string(10 + i % 5));
    mix.push_back(set(k, value_of(i, sizes[i % 5] - (i % 3))));
  }
  long bad = run(l.c, mix, 1);
  REQUIRE(bad == 0);
  std::string class_seen;
  for (int i = 0; i < 5; ++i) {
    const std::string me = connkit::test::line_reply(l.c, cat("me mix:", std::to_string(10 + i), "\r\n"));
    const std::string cls = me.substr(me.find(" cls="), me.find(" size=") - me.find(" cls="));
    if (class_seen.empty()) class_seen = cls;
    CHECK(cls == class_seen);
  }
  const long counted = allocations_in_steady_state(l.c, mix, 200, bad);  // 10,000 sets measured
  CHECK(bad == 0);
  CHECK(counted == 0);
}

TEST_CASE("multi-gets of 10 and 100 keys make no heap allocation in steady state", "[cache][alloc]") {
  Loaded l;
  const std::vector<Exchange> gets{multi_get(0, 10, Loaded::value_size), multi_get(100, 100, Loaded::value_size),
                                   multi_get(37, 10, Loaded::value_size)};
  long bad = 0;
  const long counted = allocations_in_steady_state(l.c, gets, 1000, bad);  // 3,000 multi-gets, 120,000 keys
  CHECK(bad == 0);
  CHECK(counted == 0);
}

TEST_CASE("pipelined batches of gets and sets make no heap allocation in steady state", "[cache][alloc]") {
  Loaded l;
  // One send of 60 commands (more than a connection serves per event, so it yields), one
  // reply stream back.
  Exchange batch;
  for (int i = 0; i < 20; ++i) {
    const std::string v = value_of(i, Loaded::value_size);
    const Exchange s = set(key(i), v);
    batch.request += cat(s.request, "get ", key(i), " ", key(i + 100), "\r\nget gone:", std::to_string(i), "\r\n");
    batch.reply += cat(s.reply, hit(key(i), v), hit(key(i + 100), value_of(i + 100, Loaded::value_size)), "END\r\nEND\r\n");
  }
  REQUIRE(batch.request.size() < 16384);  // within one pooled read buffer
  Client second = l.f.client();
  const std::vector<Exchange> batches{batch};
  long bad = 0;
  const long counted =
      allocations_in_steady_state(l.c, batches, 200, bad) + allocations_in_steady_state(second, batches, 200, bad);
  CHECK(bad == 0);
  CHECK(counted == 0);
  CHECK(l.f.server->stats().total.conn_yields > 0);
}

TEST_CASE("sets whose value arrives after the header make no heap allocation in steady state", "[cache][alloc]") {
  Loaded l;
  // The header alone first; the value only once the server has staged room for it (the
  // staging gauge shows it), so every value takes the staged path: into the connection's
  // kept buffer, then copied into the item once complete.
  std::vector<Exchange> headers, bodies;
  for (int i = 0; i < 10; ++i) {
    const std::string v = value_of(i, Loaded::value_size);
    headers.push_back({cat("set ", key(i), " 7 0 ", std::to_string(v.size()), "\r\n"), ""});
    bodies.push_back({cat(v, "\r\n"), "STORED\r\n"});
  }
  connkit::cache::Endpoint& endpoint = *l.f.endpoint;
  auto staged = [&] { return endpoint.staging_stats().staged_bytes == Loaded::value_size + 2; };
  auto run_split = [&](int rounds) {
    long bad = 0;
    for (int r = 0; r < rounds; ++r) {
      for (std::size_t i = 0; i < headers.size(); ++i) {
        std::size_t got = 0;
        const Exchange& body = bodies[i];
        if (!l.c.send_all(headers[i].request) || !connkit::test::eventually(staged) || !l.c.send_all(body.request) ||
            !l.c.recv_exact(reply_buffer, body.reply.size(), got) ||
            std::memcmp(reply_buffer, body.reply.data(), body.reply.size()) != 0) {
          return ++bad;  // at once: a server that never stages would cost 5 s a set
        }
      }
    }
    return bad;
  };
  long bad = run_split(20);
  const long before = allocations.load();
  bad += run_split(50);  // 500 staged sets measured
  const long counted = allocations.load() - before;
  CHECK(bad == 0);
  CHECK(counted == 0);
  CHECK(endpoint.staging_stats().staged_bytes == 0);
}

TEST_CASE("the counter sees allocations the server makes", "[cache][alloc]") {
  Loaded l;
  // `stats` formats its reply in a std::string: proof that the replacements are in force.
  // The client reads into the fixed buffer, so what is counted is the server's.
  const long before = allocations.load();
  REQUIRE(l.c.send_all("stats\r\n"));
  std::size_t size = 0;
  std::size_t got = 0;
  while (size < sizeof reply_buffer && l.c.recv_exact(reply_buffer + size, 1, got) &&
         !std::string_view(reply_buffer, ++size).ends_with("END\r\n")) {
  }
  const long counted = allocations.load() - before;
  CHECK(counted > 0);
  CHECK(std::string_view(reply_buffer, size).find("STAT curr_items 200\r\n") != std::string_view::npos);
}

namespace {

/// True if `got` holds the binary responses `expected` holds, CAS fields aside (CAS uniques
/// grow with every store). Allocates nothing.
bool same_but_cas(const char* got, std::string_view expected) {
  std::size_t at = 0;
  while (at + 24 <= expected.size()) {
    const auto body = static_cast<std::size_t>(connkit::test::from_big_endian(expected.substr(at + 8, 4)));
    if (std::memcmp(got + at, expected.data() + at, 16) != 0 ||
        std::memcmp(got + at + 24, expected.data() + at + 24, body) != 0) {
      return false;
    }
    at += 24 + body;
  }
  return at == expected.size();
}

/// run() for binary exchanges.
long run_binary(Client& c, const std::vector<Exchange>& exchanges, int rounds) {
  long bad = 0;
  for (int i = 0; i < rounds; ++i) {
    for (const Exchange& e : exchanges) {
      std::size_t got = 0;
      if (!c.send_all(e.request) || !c.recv_exact(reply_buffer, e.reply.size(), got) ||
          !same_but_cas(reply_buffer, e.reply)) {
        ++bad;
      }
    }
  }
  return bad;
}

/// A binary response as memcached sends it (CAS 1: present; same_but_cas ignores its value).
std::string bin_reply(std::uint8_t opcode, std::uint16_t status, const std::string& extras, const std::string& key,
                      const std::string& value, bool cas) {
  connkit::test::BinRequest r;
  r.magic = 0x81;
  r.opcode = opcode;
  r.extras = extras;
  r.key = key;
  r.value = value;
  r.cas = cas ? 1 : 0;
  std::string bytes = connkit::test::encode(r);
  bytes[6] = static_cast<char>(status >> 8);
  bytes[7] = static_cast<char>(status);
  return bytes;
}

std::string bin_request(std::uint8_t opcode, const std::string& key, const std::string& extras = {},
                        const std::string& value = {}) {
  connkit::test::BinRequest r;
  r.opcode = opcode;
  r.key = key;
  r.extras = extras;
  r.value = value;
  return connkit::test::encode(r);
}

}  // namespace

TEST_CASE("binary gets, GETKQ batches, sets, incr and delete make no heap allocation in steady state",
          "[cache][alloc]") {
  CacheFixture f(64u << 20, 1u << 20, {}, 1, {}, connkit::test::CacheListener::binary);
  Client c = f.client();
  const std::string flags = connkit::test::big_endian(7, 4);
  const std::string set_extras = connkit::test::store_extras(7, 0);
  std::vector<Exchange> load;
  for (int i = 0; i < 200; ++i) {
    load.push_back({bin_request(0x01, key(i), set_extras, value_of(i, 32)), bin_reply(0x01, 0, {}, {}, {}, true)});
  }
  load.push_back({bin_request(0x05, "counter", connkit::test::arith_extras(0, 41, 0)),
                  bin_reply(0x05, 0, {}, {}, connkit::test::big_endian(41, 8), true)});
  REQUIRE(run_binary(c, load, 1) == 0);

  std::vector<Exchange> mix;
  for (int i = 0; i < 20; ++i) {
    const std::string v = value_of(i, 32);
    mix.push_back({bin_request(0x00, key(i)), bin_reply(0x00, 0, flags, {}, v, true)});         // GET hit
    mix.push_back({bin_request(0x00, "missing"), bin_reply(0x00, 1, {}, {}, "Not found", false)});  // miss
    mix.push_back({bin_request(0x01, key(i), set_extras, v), bin_reply(0x01, 0, {}, {}, {}, true)});  // SET
    mix.push_back({bin_request(0x05, "counter", connkit::test::arith_extras(0, 0, 0)),  // INCR by 0
                   bin_reply(0x05, 0, {}, {}, connkit::test::big_endian(41, 8), true)});
    mix.push_back({bin_request(0x01, "gone", set_extras, v) + bin_request(0x04, "gone"),  // SET, DELETE
                   bin_reply(0x01, 0, {}, {}, {}, true) + bin_reply(0x04, 0, {}, {}, {}, false)});
  }
  Exchange batch;  // 10 GETKQ (half hits) and a NOOP, in one write
  for (int i = 0; i < 10; ++i) {
    const std::string k = i % 2 == 0 ? key(i) : "missing:" + std::to_string(i);
    batch.request += bin_request(0x0d, k);
    if (i % 2 == 0) batch.reply += bin_reply(0x0d, 0, flags, k, value_of(i, 32), true);
  }
  batch.request += bin_request(0x0a, {});
  batch.reply += bin_reply(0x0a, 0, {}, {}, {}, false);
  mix.push_back(batch);

  long bad = run_binary(c, mix, 250);
  const long before = allocations.load();
  bad += run_binary(c, mix, 250);  // 25,000 exchanges, 50,000 GETKQ
  const long counted = allocations.load() - before;
  CHECK(bad == 0);
  CHECK(counted == 0);
}

namespace {

/// Sends each request as one UDP datagram (frame header first) and checks the reassembled
/// reply, `rounds` times; returns the mismatches. Allocates nothing: the datagrams are made
/// beforehand and each reply's payload lands in reply_buffer at its sequence's place.
long run_udp(int fd, const sockaddr_in& to, const std::vector<Exchange>& exchanges, int rounds) {
  constexpr std::size_t payload_per_datagram = 1392;
  long bad = 0;
  for (int i = 0; i < rounds; ++i) {
    for (const Exchange& e : exchanges) {
      (void)::sendto(fd, e.request.data(), e.request.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
      std::size_t received = 0, count = 1, bytes = 0;
      while (received < count) {
        pollfd p{fd, POLLIN, 0};
        char datagram[1500];
        if (::poll(&p, 1, 5000) != 1) break;
        const ssize_t n = ::recv(fd, datagram, sizeof datagram, 0);
        if (n <= 8) break;
        const std::size_t sequence = static_cast<unsigned char>(datagram[2]) << 8 | static_cast<unsigned char>(datagram[3]);
        count = static_cast<unsigned char>(datagram[4]) << 8 | static_cast<unsigned char>(datagram[5]);
        std::memcpy(reply_buffer + sequence * payload_per_datagram, datagram + 8, static_cast<std::size_t>(n) - 8);
        bytes += static_cast<std::size_t>(n) - 8;
        ++received;
      }
      if (received != count || bytes != e.reply.size() || std::memcmp(reply_buffer, e.reply.data(), bytes) != 0) ++bad;
    }
  }
  return bad;
}

}  // namespace

TEST_CASE("UDP gets and sets, one and several datagrams, make no heap allocation in steady state",
          "[cache][alloc][udp]") {
  connkit::cache::Store store;
  connkit::cache::Endpoint endpoint(store);
  connkit::ServerOptions options;
  options.threads = 1;
  connkit::ListenerOptions l;
  l.transport = connkit::Transport::udp;
  endpoint.configure(l, connkit::cache::ProtocolChoice::negotiate);
  options.listeners.push_back(l);
  connkit::Server server(std::move(options));
  endpoint.attach(server);
  server.start();

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string header("\x00\x07\x00\x00\x00\x01\x00\x00", 8);  // request 7, one datagram
  const auto datagram = [&](const Exchange& e) { return Exchange{cat(header, e.request), e.reply}; };

  std::vector<Exchange> load;
  for (int i = 0; i < 20; ++i) load.push_back(datagram(set(key(i), value_of(i, 32))));
  load.push_back(datagram(set("big", value_of(1, 4000))));
  REQUIRE(run_udp(fd, to, load, 1) == 0);

  std::vector<Exchange> mix;
  for (int i = 0; i < 20; ++i) {
    const std::string v = value_of(i, 32);
    mix.push_back(datagram({cat("get ", key(i), "\r\n"), cat(hit(key(i), v), "END\r\n")}));
    mix.push_back(datagram({cat("get missing:", std::to_string(i), "\r\n"), "END\r\n"}));
    mix.push_back(datagram(set(key(i), v)));
    mix.push_back(datagram({"get big\r\n", cat(hit("big", value_of(1, 4000)), "END\r\n")}));  // 3 datagrams
  }
  long bad = run_udp(fd, to, mix, 50);
  const long before = allocations.load();
  bad += run_udp(fd, to, mix, 50);  // 5,000 datagrams measured
  const long counted = allocations.load() - before;
  ::close(fd);
  CHECK(bad == 0);
  CHECK(counted == 0);
}
