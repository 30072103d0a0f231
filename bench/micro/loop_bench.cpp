// What a worker's Poller costs to set up, with and without the loop mode's start-up check
// (a zero-delay Asio timer must wake the worker's epoll set; lib/poller.cpp). Paid once per
// worker at Server::start(); the figures are in docs/architecture.md (the worker loop).
#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/io_context.hpp>

#include <benchmark/benchmark.h>

#include "poller.hpp"

namespace {

void BM_PollerSetup(benchmark::State& state) {
  const bool loop = state.range(0) != 0;
  for (auto _ : state) {
    boost::asio::io_context io{1};
    connkit::detail::Poller poller(io, loop, false);
    if (poller.loop_mode() != loop) state.SkipWithError("the loop mode was not taken");
    benchmark::DoNotOptimize(&poller);
  }
  state.SetLabel(loop ? "loop mode, with its start-up check" : "watched mode");
}
BENCHMARK(BM_PollerSetup)->Arg(0)->Arg(1);

}  // namespace
