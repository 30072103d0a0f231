// examples/read_through_cache run as a program, with Debian's memcached as its backend (or
// a backend that never answers, or none at all). Real sockets, real processes; client
// threads never call Catch2 (it is not thread-safe): they count their failures.
#include <atomic>
#include <cstdio>
#include <chrono>
#include <exception>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"
#include "support/child_process.hpp"
#include "support/client.hpp"

using connkit::test::ChildProcess;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::free_port;
using connkit::test::number_after;
using connkit::test::recv_line;
using connkit::test::stats_reply;
using connkit::test::tcp_when_ready;
using namespace std::chrono_literals;

namespace {

/// `-u root` when the tests run as root (memcached and cache_server refuse root without -u).
void add_user(std::vector<std::string>& argv) {
  if (::geteuid() == 0) argv.insert(argv.end(), {"-u", "root"});
}

/// memcached on a free loopback port.
struct Memcached {
  Memcached() : port(free_port()), process(argv(port)) { tcp_when_ready(port); }
  static std::vector<std::string> argv(std::uint16_t port) {
    std::vector<std::string> a{CONNKIT_MEMCACHED, "-l", "127.0.0.1", "-p", std::to_string(port), "-U", "0"};
    add_user(a);
    return a;
  }
  /// Stores `value` under `key` with `flags`, on the backend itself.
  void set(const std::string& key, std::uint32_t flags, const std::string& value) {
    Client c = Client::tcp(port);
    const std::string request =
        "set " + key + " " + std::to_string(flags) + " 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    if (c.roundtrip(request, 8) != "STORED\r\n") throw std::runtime_error("backend set failed");
  }
  /// The backend's cmd_get: how many keys it was asked for.
  std::uint64_t cmd_get() {
    Client c = Client::tcp(port);
    return number_after(stats_reply(c, "stats\r\n"), "STAT cmd_get ");
  }
  std::uint16_t port;
  ChildProcess process;
};

/// read_through_cache on a free port, two workers, -v, its stderr kept in a file.
struct ReadThrough {
  ReadThrough(std::uint16_t backend_port, int timeout_ms)
      : port(free_port()),
        log_path("read_through_" + std::to_string(::getpid()) + "_" + std::to_string(port) + ".log"),
        process(argv(port, backend_port, timeout_ms), log_path) {
    tcp_when_ready(port);
  }
  ~ReadThrough() { std::remove(log_path.c_str()); }
  static std::vector<std::string> argv(std::uint16_t port, std::uint16_t backend_port, int timeout_ms) {
    std::vector<std::string> a{CONNKIT_READ_THROUGH_CACHE, "-l", "127.0.0.1", "-p", std::to_string(port), "-U", "0",
                               "-t", "2", "-b", "127.0.0.1:" + std::to_string(backend_port), "-T",
                               std::to_string(timeout_ms), "-v"};
    add_user(a);
    return a;
  }
  Client client() { return Client::tcp(port); }
  std::uint64_t stat(const std::string& name) {
    Client c = client();
    return number_after(stats_reply(c, "stats\r\n"), "STAT " + name + " ");
  }
  std::string log() const {
    std::ifstream in(log_path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::uint16_t port;
  std::string log_path;
  ChildProcess process;
};

/// Sends a get of `key` and returns the reply up to its END, and how long it took.
std::string timed_get(Client& c, const std::string& key, std::chrono::milliseconds& took) {
  const auto start = std::chrono::steady_clock::now();
  const std::string reply = c.roundtrip("get " + key + "\r\n", 5);
  took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return reply;
}

}  // namespace

TEST_CASE("read_through_cache serves a key only the backend has to get, gets and mg, flags and bytes unchanged",
          "[read_through]") {
  Memcached backend;
  ReadThrough cache(backend.port, 1000);
  backend.set("k1", 123, "a\r\nb");  // a CRLF inside the data
  backend.set("k2", 5, "abc");
  backend.set("k3", 4294967295u, "xyz");
  Client c = cache.client();
  EXPECT_REPLY(c, "get k1\r\n", "VALUE k1 123 4\r\na\r\nb\r\nEND\r\n");
  REQUIRE(c.send_all("gets k2\r\n"));
  const std::string header = recv_line(c);
  CHECK(header.rfind("VALUE k2 5 3 ", 0) == 0);
  CHECK(c.recv_n(10) == "abc\r\nEND\r\n");
  EXPECT_REPLY(c, "mg k3 v f s k\r\n", "VA 3 f4294967295 s3 kk3\r\nxyz\r\n");
  EXPECT_REPLY(c, "mg nothing v f k O1\r\n", "EN knothing O1\r\n");
  const std::uint64_t gets = backend.cmd_get();
  // Loaded, so now plain hits: the backend is not asked again.
  EXPECT_REPLY(c, "get k1\r\n", "VALUE k1 123 4\r\na\r\nb\r\nEND\r\n");
  EXPECT_REPLY(c, "mg k2 v f\r\n", "VA 3 f5\r\nabc\r\n");
  CHECK(backend.cmd_get() == gets);
  CHECK(cache.stat("load_found") == 3);
  CHECK(cache.stat("load_not_found") == 1);
}

TEST_CASE("50 clients asking at once for a key only the backend has cause one get on the backend", "[read_through]") {
  Memcached backend;
  ReadThrough cache(backend.port, 1000);
  backend.set("hot", 42, "the value");
  const std::string expected = "VALUE hot 42 9\r\nthe value\r\nEND\r\n";
  const std::uint64_t before = backend.cmd_get();
  constexpr int clients = 50;
  std::vector<Client> connections;
  for (int i = 0; i < clients; ++i) connections.push_back(cache.client());
  std::atomic<bool> go{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (Client& c : connections) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      if (c.roundtrip("get hot\r\n", expected.size()) != expected) ++failures;
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(backend.cmd_get() - before == 1);
  CHECK(cache.stat("load_started") == 1);
  const std::uint64_t coalesced = cache.stat("load_coalesced");
  CHECK(coalesced <= clients - 1);
  UNSCOPED_INFO("requests that waited on the running load: " << coalesced);
  // After the load: a plain hit, the backend not asked.
  Client c = cache.client();
  EXPECT_REPLY(c, "get hot\r\n", expected);
  CHECK(backend.cmd_get() - before == 1);
}

TEST_CASE("a multi-get mixing hits, loadable keys and keys the backend lacks answers in order", "[read_through]") {
  Memcached backend;
  ReadThrough cache(backend.port, 1000);
  backend.set("b1", 1, "one");
  backend.set("b2", 2, "two\r\n2");
  Client c = cache.client();
  EXPECT_REPLY(c, "set h1 9 0 4\r\nhit!\r\n", "STORED\r\n");
  const std::string h1 = "VALUE h1 9 4\r\nhit!\r\n";
  const std::string b1 = "VALUE b1 1 3\r\none\r\n";
  const std::string b2 = "VALUE b2 2 6\r\ntwo\r\n2\r\n";
  EXPECT_REPLY(c, "get h1 b1 nope b2 h1 nope2 b1\r\nmn\r\n", h1 + b1 + b2 + h1 + b1 + "END\r\nMN\r\n");
  // Pipelined behind a waiting multi-get: a set and a get keep their places.
  EXPECT_REPLY(c, "get new1 h1\r\nset h2 0 0 1\r\nx\r\nget h2\r\n",
               h1 + "END\r\nSTORED\r\nVALUE h2 0 1\r\nx\r\nEND\r\n");
}

TEST_CASE("a stopped backend gives a miss within the timeout, counted, while loaded keys are still served",
          "[read_through]") {
  Memcached backend;
  ReadThrough cache(backend.port, 200);
  backend.set("kept", 3, "still here");
  Client c = cache.client();
  EXPECT_REPLY(c, "get kept\r\n", "VALUE kept 3 10\r\nstill here\r\nEND\r\n");
  backend.process.kill();
  std::chrono::milliseconds took{};
  CHECK(timed_get(c, "fresh", took) == "END\r\n");
  CHECK(took < 1500ms);
  CHECK(timed_get(c, "fresh2", took) == "END\r\n");
  CHECK(took < 1500ms);
  CHECK(cache.stat("load_failed") + cache.stat("load_timeouts") == 2);
  EXPECT_REPLY(c, "get kept\r\n", "VALUE kept 3 10\r\nstill here\r\nEND\r\n");
  CHECK(cache.log().find("backend 127.0.0.1:" + std::to_string(backend.port)) != std::string::npos);
}

TEST_CASE("a backend that accepts and never answers gives END after about -T, never a hang", "[read_through]") {
  // A listening socket nobody reads from: the kernel completes connections into its backlog.
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(silent, 64) == 0);
  REQUIRE(::getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ReadThrough cache(ntohs(a.sin_port), 200);
  Client c = cache.client();
  std::chrono::milliseconds took{};
  CHECK(timed_get(c, "slow", took) == "END\r\n");
  CHECK(took >= 150ms);
  CHECK(took < 1500ms);
  UNSCOPED_INFO("get against a silent backend with -T 200 took " << took.count() << " ms");
  EXPECT_REPLY(c, "mg slow v\r\nmg slow2 v q\r\nmn\r\n", "EN\r\nMN\r\n");
  CHECK(cache.stat("load_timeouts") == 3);
  CHECK(cache.log().find("timed out after 200 ms") != std::string::npos);
  ::close(silent);
}

TEST_CASE("a refusing backend gives END, logged at -v and counted", "[read_through]") {
  const std::uint16_t nobody = free_port();
  ReadThrough cache(nobody, 1000);
  Client c = cache.client();
  std::chrono::milliseconds took{};
  CHECK(timed_get(c, "any", took) == "END\r\n");
  CHECK(took < 1000ms);
  CHECK(cache.stat("load_failed") == 1);
  const std::string log = cache.log();
  CHECK(log.find("backend 127.0.0.1:" + std::to_string(nobody) + ": get any: connect: Connection refused") !=
        std::string::npos);
}
