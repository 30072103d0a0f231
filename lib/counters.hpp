#pragma once

#include <atomic>
#include <cstdint>

#include <connkit/stats.hpp>

namespace connkit::detail {

/// A counter with one writing thread and any number of readers: the writer does a plain
/// load and store (no locked read-modify-write on the hot path); readers see a recent value.
class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

/// The connection-layer counters of one writer (a worker, or the listener thread).
struct Counters {
  Counter curr_conns;
  Counter total_conns;
  Counter conn_structs;
  Counter rejected_conns;
  Counter conn_yields;
  Counter idle_kicks;
  Counter listen_disabled_num;
  Counter time_in_listen_disabled_us;
  Counter malloc_fails;
  Counter bytes_read;
  Counter bytes_written;
  Counter read_buf_count;
  Counter read_buf_bytes;
  Counter read_buf_bytes_free;
  Counter read_buf_oom;

  /// The current values as a plain struct.
  ConnectionStats snapshot() const noexcept;
};

}  // namespace connkit::detail
