#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include <connkit/cache/endpoint.hpp>

namespace connkit::cache::detail {

/// One worker's command counters: written by that worker only (plain load + store, no locked
/// read-modify-write), read by `stats` from any thread. Cache-line aligned so workers'
/// counters never share a line.
struct alignas(64) CommandCounters {
  struct Counter {
    std::atomic<std::uint64_t> value{0};
    void add(std::uint64_t n = 1) noexcept {
      value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
  };

  /// The counter for a CommandStats field.
  Counter& operator[](std::uint64_t CommandStats::*field) noexcept {
    for (std::size_t i = 0; i < std::size(command_stat_fields); ++i) {
      if (command_stat_fields[i].field == field) return counters[i];
    }
    return counters[0];
  }

  /// Adds this worker's values into `out`.
  void add_to(CommandStats& out) const noexcept {
    for (std::size_t i = 0; i < std::size(command_stat_fields); ++i) {
      out.*(command_stat_fields[i].field) += counters[i].get();
    }
  }

  Counter counters[std::size(command_stat_fields)];
};

}  // namespace connkit::cache::detail
