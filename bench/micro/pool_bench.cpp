// Acquire/release of pooled Connection structs (lib/connection_pool.hpp) on a real Worker.
// A Worker needs only its ServerImpl's options, so no server is started, nothing is bound
// and no thread runs: the pool and the Connections it makes are the library's own.
#include <utility>  // before Asio (Boost 1.74)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <benchmark/benchmark.h>

#include <connkit/options.hpp>
#include <connkit/protocol_handler.hpp>

#include "connection_pool.hpp"
#include "counters.hpp"
#include "server_impl.hpp"
#include "worker.hpp"

namespace {

class NullHandler final : public connkit::ProtocolHandler {
 public:
  connkit::Action on_input(connkit::Connection&, std::span<const char> input) override {
    return connkit::Action::consumed(input.size());
  }
};

/// The smallest real setup a ConnectionPool runs in: a worker of a (never started) server.
struct PoolFixture {
  static connkit::ServerOptions options() {
    connkit::ServerOptions o;
    o.threads = 1;
    connkit::ListenerOptions l;
    l.handler = [] { return std::make_unique<NullHandler>(); };
    o.listeners.push_back(std::move(l));
    return o;
  }

  boost::asio::io_context io{1};
  connkit::detail::ServerImpl server{options(), &io};
  connkit::detail::Worker worker{server, 0, io, false};
  connkit::detail::Counter structs;
  connkit::detail::ConnectionPool pool{worker, 0, server.options().listeners[0], structs};
};

// Steady state of one worker: a client connects and the struct it got earlier is reused.
void BM_PoolAcquireRelease(benchmark::State& state) {
  PoolFixture f;
  f.pool.release(f.pool.acquire());  // the one struct every iteration reuses
  for (auto _ : state) {
    connkit::detail::ConnectionEngine& c = f.pool.acquire();
    benchmark::DoNotOptimize(&c);
    f.pool.release(c);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["structs"] = static_cast<double>(f.pool.structs());
}
BENCHMARK(BM_PoolAcquireRelease);

// A burst of `n` connections arriving and leaving, all served by reused structs.
void BM_PoolAcquireReleaseBurst(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  PoolFixture f;
  std::vector<connkit::detail::ConnectionEngine*> held(n);
  for (auto*& c : held) c = &f.pool.acquire();
  for (auto* c : held) f.pool.release(*c);
  for (auto _ : state) {
    for (auto*& c : held) c = &f.pool.acquire();
    benchmark::DoNotOptimize(held.data());
    for (auto* c : held) f.pool.release(*c);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["structs"] = static_cast<double>(f.pool.structs());
}
BENCHMARK(BM_PoolAcquireReleaseBurst)->Arg(64)->Arg(1024);

// What reuse saves: `n` structs made from an empty pool (handler, Connection, free-list
// growth), then the pool destroyed with them.
void BM_PoolNewStructs(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  PoolFixture f;
  for (auto _ : state) {
    connkit::detail::ConnectionPool pool{f.worker, 0, f.server.options().listeners[0], f.structs};
    for (std::size_t i = 0; i < n; ++i) benchmark::DoNotOptimize(&pool.acquire());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_PoolNewStructs)->Arg(64);

}  // namespace
