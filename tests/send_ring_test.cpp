// SendRing (lib/send_ring.hpp): what it reports for each queued send is what send() with
// MSG_DONTWAIT would have returned, in queue order, for batches of one and of many.
#include "send_ring.hpp"

#include <array>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace {

using connkit::detail::SendRing;

struct Pair {
  Pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd.data()) == 0); }
  ~Pair() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  std::string drain() const {
    std::string got;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd[1], buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return got;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  std::array<int, 2> fd{-1, -1};
};

std::vector<std::pair<void*, int>> complete(SendRing& ring) {
  std::vector<std::pair<void*, int>> results;
  ring.complete([&](void* token, int result) { results.emplace_back(token, result); });
  return results;
}

}  // namespace

TEST_CASE("a send ring reports what send() would, in queue order", "[send_ring]") {
  SendRing ring;
  ring.open(8);
  if (!ring.available()) {
    WARN("the kernel refuses io_uring here: the server sends with send(), nothing to check");
    return;
  }
  Pair a, b, c;
  const std::string ma(100, 'a'), mb(200, 'b'), mc(300, 'c');

  SECTION("a batch of several: every send whole, each result to its token") {
    REQUIRE(ring.queue(a.fd[0], ma.data(), ma.size(), &a));
    REQUIRE(ring.queue(b.fd[0], mb.data(), mb.size(), &b));
    REQUIRE(ring.queue(c.fd[0], mc.data(), mc.size(), &c));
    CHECK(ring.queued() == 3);
    const auto results = complete(ring);
    CHECK(ring.queued() == 0);
    REQUIRE(results.size() == 3);
    CHECK(results[0] == std::pair<void*, int>(&a, 100));
    CHECK(results[1] == std::pair<void*, int>(&b, 200));
    CHECK(results[2] == std::pair<void*, int>(&c, 300));
    CHECK(a.drain() == ma);
    CHECK(b.drain() == mb);
    CHECK(c.drain() == mc);
  }

  SECTION("a full socket: a short send, then EAGAIN, beside a healthy one") {
    const int small = 4096;
    REQUIRE(::setsockopt(b.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    const std::string big(1 << 20, 'x');
    REQUIRE(ring.queue(a.fd[0], ma.data(), ma.size(), &a));
    REQUIRE(ring.queue(b.fd[0], big.data(), big.size(), &b));
    auto results = complete(ring);
    REQUIRE(results.size() == 2);
    CHECK(results[0].second == 100);
    CHECK(results[1].first == &b);
    const int first = results[1].second;
    CHECK(first > 0);
    CHECK(first < static_cast<int>(big.size()));
    REQUIRE(ring.queue(a.fd[0], ma.data(), ma.size(), &a));
    REQUIRE(ring.queue(b.fd[0], big.data(), big.size(), &b));
    results = complete(ring);
    REQUIRE(results.size() == 2);
    CHECK(results[1] == std::pair<void*, int>(&b, -EAGAIN));
    CHECK(b.drain() == big.substr(0, static_cast<std::size_t>(first)));  // what was reported went out
    CHECK(a.drain() == ma + ma);
  }

  SECTION("a closed peer: EPIPE, no SIGPIPE, in a batch and alone") {
    ::close(c.fd[1]);
    c.fd[1] = -1;
    REQUIRE(ring.queue(a.fd[0], ma.data(), ma.size(), &a));
    REQUIRE(ring.queue(c.fd[0], mc.data(), mc.size(), &c));
    auto results = complete(ring);
    REQUIRE(results.size() == 2);
    CHECK(results[1] == std::pair<void*, int>(&c, -EPIPE));
    REQUIRE(ring.queue(c.fd[0], mc.data(), mc.size(), &c));  // a batch of one goes out with send()
    results = complete(ring);
    REQUIRE(results.size() == 1);
    CHECK(results[0] == std::pair<void*, int>(&c, -EPIPE));
  }

  SECTION("the queue holds at most the ring's entries, and is free again after complete()") {
    for (int i = 0; i < 8; ++i) REQUIRE(ring.queue(a.fd[0], "x", 1, &a));
    CHECK_FALSE(ring.queue(a.fd[0], "x", 1, &a));
    CHECK(complete(ring).size() == 8);
    CHECK(a.drain() == std::string(8, 'x'));
    CHECK(ring.queue(a.fd[0], "y", 1, &a));
    CHECK(complete(ring) == std::vector<std::pair<void*, int>>{{&a, 1}});
  }
}
