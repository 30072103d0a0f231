// The cache over UDP with memcached's 8-byte frame header (docs/cache.md, "UDP"): replies
// cut into datagrams of at most 1,400 bytes and reassembled by sequence number, ascii and
// binary, requests memcached drops, the reply's source address, `stats conns`, and
// cache_server's -U (off by default; a second server cannot bind the same UDP port).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <connkit/cache/endpoint.hpp>
#include <connkit/connkit.hpp>

#include "support/binary_client.hpp"
#include "support/child_process.hpp"
#include "support/client.hpp"
#include "support/udp_client.hpp"

using connkit::test::UdpClient;
using connkit::test::UdpReply;

namespace {

/// A store and an endpoint served on a TCP listener (index 0) and a UDP one (index 1), one
/// worker, so datagrams are answered in the order they were sent.
struct UdpCache {
  explicit UdpCache(const char* udp_host = "127.0.0.1",
                    connkit::cache::ProtocolChoice protocol = connkit::cache::ProtocolChoice::negotiate) {
    endpoint = std::make_unique<connkit::cache::Endpoint>(store);
    connkit::ServerOptions options;
    options.threads = 1;
    for (const auto transport : {connkit::Transport::tcp, connkit::Transport::udp}) {
      connkit::ListenerOptions l;
      l.transport = transport;
      if (transport == connkit::Transport::udp) l.host = udp_host;
      endpoint->configure(l, protocol);
      options.listeners.push_back(std::move(l));
    }
    server = std::make_unique<connkit::Server>(std::move(options));
    endpoint->attach(*server);
    server->start();
  }
  std::uint16_t udp_port() const { return server->port(1); }
  connkit::test::Client tcp() const { return connkit::test::Client::tcp(server->port(0)); }

  connkit::cache::Store store;
  std::unique_ptr<connkit::cache::Endpoint> endpoint;
  std::unique_ptr<connkit::Server> server;
};

/// Every datagram of `r` carries `id`, the same count (the number of datagrams), numbers
/// 0 .. count-1 once each, and at most 1,400 bytes.
void check_frames(const UdpReply& r, std::uint16_t id) {
  REQUIRE(r.complete);
  std::set<std::uint16_t> sequences;
  for (std::size_t i = 0; i < r.headers.size(); ++i) {
    CHECK(r.headers[i].request_id == id);
    CHECK(r.headers[i].count == r.headers.size());
    CHECK(r.headers[i].reserved == 0);
    CHECK(r.sizes[i] <= 1400);
    sequences.insert(r.headers[i].sequence);
  }
  CHECK(sequences.size() == r.headers.size());
  CHECK(*sequences.rbegin() == r.headers.size() - 1);
}

std::string value_of(std::size_t size) {
  std::string v(size, '\0');
  for (std::size_t i = 0; i < size; ++i) v[i] = static_cast<char>('a' + i % 26);
  return v;
}

}  // namespace

TEST_CASE("UDP: a small ascii reply is one datagram echoing the request id", "[cache][udp]") {
  UdpCache cache;
  UdpClient udp(cache.udp_port());
  const UdpReply r = udp.request(0xbeef, "set k 5 0 5\r\nhello\r\nget k\r\n");
  check_frames(r, 0xbeef);
  CHECK(r.headers.size() == 1);
  CHECK(r.payload == "STORED\r\nVALUE k 5 5\r\nhello\r\nEND\r\n");  // one message for the datagram
  const UdpReply d = udp.request(2, "incr n 1\r\nset n 0 0 1\r\n7\r\nincr n 3\r\ndecr n 1\r\ndelete n\r\ndelete n\r\n");
  CHECK(d.payload == "NOT_FOUND\r\nSTORED\r\n10\r\n9\r\nDELETED\r\nNOT_FOUND\r\n");
  // gets over UDP, and the value is the one TCP sees.
  connkit::test::Client tcp = cache.tcp();
  CHECK(tcp.roundtrip("get k\r\n", 30) == "VALUE k 5 5\r\nhello\r\nEND\r\n");
  CHECK(udp.request(3, "gets k\r\n").payload.rfind("VALUE k 5 5 ", 0) == 0);
}

TEST_CASE("UDP: a 20 kB value set over TCP comes back in 15 datagrams, reassembled by sequence", "[cache][udp]") {
  UdpCache cache;
  const std::string value = value_of(20000);
  connkit::test::Client tcp = cache.tcp();
  REQUIRE(tcp.roundtrip("set big 0 0 20000\r\n" + value + "\r\n", 8) == "STORED\r\n");
  UdpClient udp(cache.udp_port());
  const UdpReply r = udp.request(4242, "get big\r\n");
  check_frames(r, 4242);
  const std::string expected = "VALUE big 0 20000\r\n" + value + "\r\nEND\r\n";
  CHECK(r.headers.size() == (expected.size() + 1391) / 1392);  // 15
  CHECK(r.headers.size() == 15);
  for (std::size_t i = 0; i < r.sizes.size(); ++i) {
    if (r.headers[i].sequence + 1 < r.headers[i].count) CHECK(r.sizes[i] == 1400);  // full but the last
  }
  CHECK(r.payload == expected);
}

TEST_CASE("UDP: the binary protocol per datagram, single and multi-datagram replies", "[cache][udp]") {
  using namespace connkit::test;
  UdpCache cache;
  UdpClient udp(cache.udp_port());
  const std::string value = value_of(5000);
  const UdpReply set = udp.request(9, encode(req(0x01, "bk", store_extras(7, 0), value, 0, 0x11)));
  check_frames(set, 9);
  BinResponse stored;
  REQUIRE(decode(set.payload, stored) == set.payload.size());
  CHECK(stored.magic == 0x81);
  CHECK(stored.status == 0);
  CHECK(stored.opaque == 0x11);

  const UdpReply get = udp.request(10, encode(req(0x00, "bk", {}, {}, 0, 0x12)));
  check_frames(get, 10);
  CHECK(get.headers.size() == 4);  // 24 + 4 + 5000 bytes
  BinResponse got;
  REQUIRE(decode(get.payload, got) == get.payload.size());
  CHECK(got.value == value);
  CHECK(from_big_endian(got.extras) == 7);

  // The next datagram is ascii again: each datagram's first payload byte chooses.
  CHECK(udp.request(11, "get bk\r\n").payload == "VALUE bk 7 5000\r\n" + value + "\r\nEND\r\n");
}

TEST_CASE("UDP: datagrams memcached drops get no reply, and the next one is served", "[cache][udp]") {
  UdpCache cache;
  UdpClient udp(cache.udp_port());
  udp.send(1, "version\r\n", 2);                   // says it is one of two datagrams
  udp.send(2, "version\r\n", 0);                   // a count of 0
  udp.send_raw(UdpClient::header(3, 0, 1, 0));     // a header and no payload
  udp.send_raw("vers");                            // shorter than a header
  udp.send(4, "set t 0 0 100\r\nshort\r\n");       // a value that is not all in its datagram
  udp.send(5, "version\r\n");
  // One worker answers in order: the first reply to arrive is to request 5.
  const UdpReply r = udp.receive();
  check_frames(r, 5);
  CHECK(r.payload == "VERSION 1.6.18-connkit\r\n");
  CHECK(udp.request(6, "get t\r\n").payload == "END\r\n");  // the cut-off set stored nothing
  // memcached reads neither the sequence number nor the reserved field of a request.
  udp.send(7, "version\r\n", 1, 0xffff);
  CHECK(udp.receive().payload == "VERSION 1.6.18-connkit\r\n");
}

TEST_CASE("UDP: a pinned listener (-B ascii) does not switch protocols per datagram", "[cache][udp]") {
  UdpCache cache("127.0.0.1", connkit::cache::ProtocolChoice::ascii);
  UdpClient udp(cache.udp_port());
  // A binary `version` request, then a line end: the text protocol reads one bad line.
  const UdpReply r = udp.request(1, connkit::test::encode(connkit::test::req(0x0b)) + "\r\n");
  REQUIRE(r.complete);
  CHECK(r.payload == "ERROR\r\n");
}

TEST_CASE("UDP: on a wildcard address a reply leaves from the address the request came to", "[cache][udp]") {
  UdpCache cache("0.0.0.0");
  // Sent to 127.0.0.2: without IP_PKTINFO the kernel would answer from 127.0.0.1, the
  // loopback route's preferred source, and a client matching replies by address drops it.
  UdpClient udp(cache.udp_port(), "127.0.0.2");
  const UdpReply r = udp.request(8, "version\r\n");
  REQUIRE(r.complete);
  CHECK(r.source == "127.0.0.2:" + std::to_string(cache.udp_port()));
  UdpClient direct(cache.udp_port(), "127.0.0.1");
  CHECK(direct.request(9, "version\r\n").source == "127.0.0.1:" + std::to_string(cache.udp_port()));
}

TEST_CASE("UDP: stats conns lists each worker's UDP socket as memcached does", "[cache][udp]") {
  UdpCache cache;
  connkit::test::Client tcp = cache.tcp();
  const std::string port = std::to_string(cache.udp_port());
  std::string stats;
  // The worker takes its descriptor of the socket asynchronously after start().
  REQUIRE(connkit::test::eventually([&] {
    tcp.send_all("stats conns\r\n");
    stats.clear();
    char ch = 0;
    std::size_t got = 0;
    while (stats.find("END\r\n") == std::string::npos && tcp.recv_exact(&ch, 1, got)) stats += ch;
    return stats.find(":UDP UDP\r\n") != std::string::npos;
  }));
  const std::size_t at = stats.find(":UDP UDP\r\n");
  const std::size_t line = stats.rfind("STAT ", at);
  const std::string fd = stats.substr(line + 5, at - line - 5);
  CHECK(stats.find("STAT " + fd + ":addr udp:127.0.0.1:" + port + "\r\n") != std::string::npos);
  CHECK(stats.find("STAT " + fd + ":state conn_read\r\n") != std::string::npos);
  CHECK(stats.find("STAT " + fd + ":listen_addr") == std::string::npos);
  CHECK(stats.find("STAT " + fd + ":secs_since_last_cmd ") != std::string::npos);
}

// --- cache_server -U --------------------------------------------------------------------

namespace {

struct Program {
  explicit Program(std::vector<std::string> args)
      : log_path("cache_udp_" + std::to_string(::getpid()) + "_" + std::to_string(++runs) + ".log"),
        process(argv(std::move(args)), log_path) {}
  ~Program() { std::remove(log_path.c_str()); }
  static std::vector<std::string> argv(std::vector<std::string> args) {
    args.insert(args.begin(), CONNKIT_CACHE_SERVER);
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "root"});
    return args;
  }
  std::string log() const {
    std::ifstream in(log_path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static inline int runs = 0;
  std::string log_path;
  connkit::test::ChildProcess process;
};

connkit::test::Client tcp_when_ready(std::uint16_t port) {
  std::unique_ptr<connkit::test::Client> c;
  connkit::test::eventually([&] {
    try {
      c = std::make_unique<connkit::test::Client>(connkit::test::Client::tcp(port));
      return true;
    } catch (const std::exception&) {
      return false;
    }
  });
  if (!c) throw std::runtime_error("cache_server does not listen");
  return std::move(*c);
}

std::string stats_of(connkit::test::Client& c, const std::string& request) {
  c.send_all(request);
  std::string text;
  char ch = 0;
  std::size_t got = 0;
  while (text.find("END\r\n") == std::string::npos && c.recv_exact(&ch, 1, got)) text += ch;
  return text;
}

}  // namespace

TEST_CASE("cache_server opens no UDP socket without -U", "[cache_server][udp]") {
  const std::uint16_t port = connkit::test::free_port();
  Program server({"-p", std::to_string(port), "-t", "2"});
  connkit::test::Client c = tcp_when_ready(port);
  CHECK(stats_of(c, "stats settings\r\n").find("STAT udpport 0\r\n") != std::string::npos);
  const std::string conns = stats_of(c, "stats conns\r\n");
  CHECK(conns.find("udp") == std::string::npos);
  CHECK(conns.find(":UDP UDP") == std::string::npos);
  // Nor does anything answer a datagram sent to the TCP port's number.
  UdpClient udp(port);
  udp.send(1, "version\r\n");
  CHECK_FALSE(udp.receive(std::chrono::milliseconds(300)).complete);
}

TEST_CASE("cache_server -U serves UDP, and a second server cannot bind the same UDP port", "[cache_server][udp]") {
  const std::uint16_t port = connkit::test::free_port();
  const std::uint16_t udp_port = connkit::test::free_port();
  Program first({"-p", std::to_string(port), "-U", std::to_string(udp_port), "-t", "2"});
  connkit::test::Client c = tcp_when_ready(port);
  CHECK(stats_of(c, "stats settings\r\n").find("STAT udpport " + std::to_string(udp_port) + "\r\n") != std::string::npos);
  UdpClient udp(udp_port);
  const UdpReply r = udp.request(77, "version\r\n");
  check_frames(r, 77);
  CHECK(r.payload == "VERSION 1.6.18-connkit\r\n");

  SECTION("without -l: memcached's message for the UDP port, exit 71") {
    Program second({"-p", std::to_string(connkit::test::free_port()), "-U", std::to_string(udp_port)});
    CHECK(second.process.wait_exit() == 71);
    CHECK(second.log() == "failed to listen on UDP port " + std::to_string(udp_port) + ": Address already in use\n");
  }
  SECTION("with -l: memcached's message for its interfaces") {
    Program second({"-l", "127.0.0.1", "-p", std::to_string(connkit::test::free_port()), "-U",
                    std::to_string(udp_port)});
    CHECK(second.process.wait_exit() == 71);
    CHECK(second.log() == "failed to listen on one of interface(s) 127.0.0.1: Address already in use\n");
  }
}

TEST_CASE("cache_server frames a 20 kB get as memcached 1.6.18 does", "[cache_server][udp][memcached]") {
  if (::access("/usr/bin/memcached", X_OK) != 0) {
    WARN("memcached is not installed: no differential check");
    return;
  }
  const std::string value = value_of(20000);
  std::vector<std::vector<std::pair<std::uint16_t, std::size_t>>> frames;
  std::vector<std::string> payloads;
  for (const bool real : {true, false}) {
    const std::uint16_t port = connkit::test::free_port();
    const std::uint16_t udp_port = connkit::test::free_port();
    std::vector<std::string> args{"-p", std::to_string(port), "-U", std::to_string(udp_port), "-l", "127.0.0.1",
                                  "-t", "1"};
    std::unique_ptr<connkit::test::ChildProcess> memcached;
    std::unique_ptr<Program> ours;
    if (real) {
      args.insert(args.begin(), "/usr/bin/memcached");
      if (::geteuid() == 0) args.insert(args.end(), {"-u", "nobody"});
      memcached = std::make_unique<connkit::test::ChildProcess>(args);
    } else {
      ours = std::make_unique<Program>(args);
    }
    connkit::test::Client c = tcp_when_ready(port);
    REQUIRE(c.roundtrip("set big 0 0 20000\r\n" + value + "\r\n", 8) == "STORED\r\n");
    UdpClient udp(udp_port);
    const UdpReply r = udp.request(321, "get big\r\n");
    check_frames(r, 321);
    std::vector<std::pair<std::uint16_t, std::size_t>> f;
    for (std::size_t i = 0; i < r.headers.size(); ++i) f.emplace_back(r.headers[i].sequence, r.sizes[i]);
    std::sort(f.begin(), f.end());
    frames.push_back(f);
    payloads.push_back(r.payload);
  }
  CHECK(frames[0] == frames[1]);  // the same count, numbering and sizes
  CHECK(payloads[0] == payloads[1]);
}
