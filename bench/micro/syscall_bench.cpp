// What a system call costs on this machine, and what sending a wake-up's replies with one
// io_uring_enter (lib/send_ring.hpp) saves against one send() per reply.
#include <array>
#include <cstdint>
#include <vector>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include "send_ring.hpp"

namespace {

void BM_NullSystemCall(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(::syscall(SYS_getppid));
}
BENCHMARK(BM_NullSystemCall);

// `n` connected UNIX stream socket pairs: replies go into [0], the benchmark drains [1].
class Pairs {
 public:
  explicit Pairs(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      std::array<int, 2> fds{};
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()) == 0) pairs_.push_back(fds);
    }
  }
  ~Pairs() {
    for (const auto& p : pairs_) {
      ::close(p[0]);
      ::close(p[1]);
    }
  }
  Pairs(const Pairs&) = delete;
  Pairs& operator=(const Pairs&) = delete;

  const std::vector<std::array<int, 2>>& all() const { return pairs_; }
  void drain() const {
    char buf[16384];
    for (const auto& p : pairs_) {
      while (::recv(p[1], buf, sizeof buf, MSG_DONTWAIT) > 0) {
      }
    }
  }

 private:
  std::vector<std::array<int, 2>> pairs_;
};

constexpr std::size_t reply_size = 128;  // a get90 hit: VALUE line, 100-byte value, END
constexpr std::int64_t drain_every = 256;

// One send() per reply, as memcached and cache_server -o no_io_uring do.
void BM_RepliesSendEach(benchmark::State& state) {
  Pairs pairs(static_cast<std::size_t>(state.range(0)));
  const char reply[reply_size] = {};
  std::int64_t round = 0;
  for (auto _ : state) {
    for (const auto& p : pairs.all()) benchmark::DoNotOptimize(::send(p[0], reply, sizeof reply, MSG_NOSIGNAL | MSG_DONTWAIT));
    if (++round % drain_every == 0) {
      state.PauseTiming();
      pairs.drain();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // replies sent
}
BENCHMARK(BM_RepliesSendEach)->Arg(1)->Arg(5)->Arg(50);

// The same replies queued on a SendRing and sent with one io_uring_enter per round.
void BM_RepliesSendRing(benchmark::State& state) {
  Pairs pairs(static_cast<std::size_t>(state.range(0)));
  connkit::detail::SendRing ring;
  ring.open(256);
  if (!ring.available()) {
    state.SkipWithError("io_uring is not available here");
    return;
  }
  const char reply[reply_size] = {};
  std::int64_t round = 0;
  for (auto _ : state) {
    for (const auto& p : pairs.all()) ring.queue(p[0], reply, sizeof reply, nullptr);
    ring.complete([](void*, int result) { benchmark::DoNotOptimize(result); });
    if (++round % drain_every == 0) {
      state.PauseTiming();
      pairs.drain();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RepliesSendRing)->Arg(1)->Arg(5)->Arg(50);

}  // namespace
