#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include <boost/system/error_code.hpp>

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

/// One writer's Counter for each entry of a stats table (`Fields`: an array of {name, member
/// pointer into `Stats`}, such as connection_stat_fields). A counter is named by its field,
/// `counters[&ConnectionStats::bytes_read].add(n)`, and the field becomes the table index
/// when compiled: no search at run time, and a field missing from the table does not compile.
template <class Stats, const auto& Fields>
class CounterSet {
 public:
  /// A field of `Stats` listed in `Fields`, as its index in the table.
  class Field {
   public:
    // Implicit, so that a member pointer is all a caller writes.
    consteval Field(std::uint64_t Stats::*field) : index_(index_of(field)) {}
    constexpr std::size_t index() const noexcept { return index_; }

   private:
    static consteval std::size_t index_of(std::uint64_t Stats::*field) {
      for (std::size_t i = 0; i < std::size(Fields); ++i) {
        if (Fields[i].field == field) return i;
      }
      throw "not a field of this stats table";  // a compile-time error: consteval
    }
    std::size_t index_;
  };

  /// The counter of `field`.
  Counter& operator[](Field field) noexcept { return counters_[field.index()]; }
  const Counter& operator[](Field field) const noexcept { return counters_[field.index()]; }

  /// Adds every counter into the matching field of `out`.
  void add_to(Stats& out) const noexcept {
    for (std::size_t i = 0; i < std::size(Fields); ++i) out.*(Fields[i].field) += counters_[i].get();
  }
  /// The current values as a plain struct.
  Stats snapshot() const noexcept {
    Stats s{};
    add_to(s);
    return s;
  }

 private:
  Counter counters_[std::size(Fields)];
};

/// The connection-layer counters of one writer (a worker, or the listener thread).
using Counters = CounterSet<ConnectionStats, connection_stat_fields>;

/// The one per-reason close counter (closed_peer ... closed_write_stall) a stream
/// connection closed for `reason` is counted in (lib/error.cpp, beside the reasons' texts).
Counters::Field close_counter(const boost::system::error_code& reason) noexcept;

}  // namespace connkit::detail
