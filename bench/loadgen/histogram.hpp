#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadgen {

/// Log-linear latency histogram in the style of HdrHistogram, over nanoseconds.
///
/// Values below 256 ns are kept exactly; above, each power-of-two range is split into
/// 256 equal buckets, so any reported value is within 0.4% of a recorded one. The range
/// ends at 2^40 ns (about 18 minutes); larger values are counted in the last bucket.
/// Recording is O(1) and allocation-free; memory is fixed (about 66 KiB).
class LatencyHistogram {
 public:
  /// Creates an empty histogram.
  LatencyHistogram();

  /// Counts one value, in nanoseconds.
  void record(std::uint64_t value_ns) noexcept;

  /// Adds every count of `other` into this histogram.
  void merge(const LatencyHistogram& other) noexcept;

  /// Number of values recorded.
  std::uint64_t count() const noexcept { return total_; }

  /// The value at quantile `q` (0..1) in nanoseconds: the midpoint of its bucket; 0 if empty.
  double quantile_ns(double q) const noexcept;

  /// Mean of the recorded values in nanoseconds; 0 if empty.
  double mean_ns() const noexcept;

  /// Largest value recorded, in nanoseconds (exact); 0 if empty.
  std::uint64_t max_ns() const noexcept { return max_; }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace loadgen
