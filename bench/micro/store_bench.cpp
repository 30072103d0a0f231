// connkit::cache::Store over 100,000 keys of 32 bytes with 100-byte values: gets that hit
// and miss, sets that overwrite a live key, and sets that must evict to make room.
#include <connkit/cache/store.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "keys.hpp"

namespace {

using connkit::cache::ItemRef;
using connkit::cache::Store;
using connkit::cache::StoreMode;
using connkit::cache::StoreOptions;
using connkit::cache::StoreResult;

constexpr std::size_t key_count = 100'000;
constexpr std::size_t value_size = 100;

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = connkit::bench::make_keys(key_count);
  return k;
}

/// The text protocol's set: allocate, fill the value and its "\r\n", link.
StoreResult set(Store& store, std::string_view key, char fill) {
  ItemRef item = store.allocate(key, 0, 0, value_size);
  if (!item) return StoreResult::no_memory;
  std::span<char> room = item->value_with_crlf();
  std::memset(room.data(), fill, value_size);
  room[value_size] = '\r';
  room[value_size + 1] = '\n';
  return store.store(item, StoreMode::set);
}

/// Stores every key; false (and the benchmark skipped) if one could not be stored.
bool fill(Store& store, benchmark::State& state) {
  for (const std::string& key : keys()) {
    if (set(store, key, 'v') != StoreResult::stored) {
      state.SkipWithError("prefill failed");
      return false;
    }
  }
  return true;
}

void BM_StoreGetHit(benchmark::State& state) {
  Store store;
  if (!fill(store, state)) return;
  const auto& k = keys();
  std::size_t i = 0;
  for (auto _ : state) {
    ItemRef item = store.get(k[i]);
    benchmark::DoNotOptimize(item.get());
    i = (i + 1) % k.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * value_size));
}
BENCHMARK(BM_StoreGetHit);

void BM_StoreGetMiss(benchmark::State& state) {
  Store store;
  if (!fill(store, state)) return;
  const std::vector<std::string> absent = connkit::bench::make_keys(key_count, "mis:");
  std::size_t i = 0;
  for (auto _ : state) {
    ItemRef item = store.get(absent[i]);
    benchmark::DoNotOptimize(item.get());
    i = (i + 1) % absent.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_StoreGetMiss);

void BM_StoreSetOverwrite(benchmark::State& state) {
  Store store;
  if (!fill(store, state)) return;
  const auto& k = keys();
  std::size_t i = 0;
  for (auto _ : state) {
    if (set(store, k[i], 'w') != StoreResult::stored) {
      state.SkipWithError("set failed");
      break;
    }
    i = (i + 1) % k.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * value_size));
  state.counters["evictions"] = static_cast<double>(store.stats().evictions);
}
BENCHMARK(BM_StoreSetOverwrite);

// 1 MiB holds about 4,500 of these items, so cycling through 100,000 keys every set is of
// an absent key in a full store: each one evicts an LRU tail first.
void BM_StoreSetEvict(benchmark::State& state) {
  StoreOptions options;
  options.memory_limit = 1u << 20;
  Store store(options);
  const auto& k = keys();
  for (std::size_t n = 0; n < 10'000; ++n) set(store, k[n], 'v');  // fill up, and then some
  std::size_t i = 10'000;
  const std::uint64_t evictions_before = store.stats().evictions;
  for (auto _ : state) {
    if (set(store, k[i], 'e') != StoreResult::stored) {
      state.SkipWithError("set failed");
      break;
    }
    i = (i + 1) % k.size();
  }
  const std::uint64_t evictions = store.stats().evictions - evictions_before;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * value_size));
  // 1.0 means every set evicted exactly one item.
  state.counters["evictions_per_set"] =
      static_cast<double>(evictions) / static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
}
BENCHMARK(BM_StoreSetEvict);

}  // namespace
