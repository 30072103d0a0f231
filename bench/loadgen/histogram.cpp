#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace loadgen {

namespace {

constexpr unsigned sub_bucket_bits = 8;                         // 256 buckets per power of two
constexpr std::uint64_t sub_bucket_count = std::uint64_t{1} << sub_bucket_bits;
constexpr unsigned top_exponent = 40;                           // range ends at 2^40 ns
constexpr std::size_t bucket_count = (top_exponent - sub_bucket_bits + 1) * sub_bucket_count;

/// Index of the bucket holding `value`.
std::size_t bucket_index(std::uint64_t value) noexcept {
  if (value < sub_bucket_count) return static_cast<std::size_t>(value);
  const unsigned exponent = static_cast<unsigned>(std::bit_width(value)) - 1;
  if (exponent >= top_exponent) return bucket_count - 1;
  const unsigned shift = exponent - sub_bucket_bits;
  const std::uint64_t mantissa = value >> shift;  // in [sub_bucket_count, 2 * sub_bucket_count)
  return static_cast<std::size_t>((shift + 1) * sub_bucket_count + (mantissa - sub_bucket_count));
}

/// Midpoint of the values that bucket `index` holds.
double bucket_midpoint(std::size_t index) noexcept {
  if (index < sub_bucket_count) return static_cast<double>(index);
  const unsigned shift = static_cast<unsigned>(index / sub_bucket_count) - 1;
  const std::uint64_t mantissa = index % sub_bucket_count + sub_bucket_count;
  const std::uint64_t lowest = mantissa << shift;
  const std::uint64_t width = std::uint64_t{1} << shift;
  return static_cast<double>(lowest) + static_cast<double>(width - 1) / 2.0;
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(bucket_count, 0) {}

void LatencyHistogram::record(std::uint64_t value_ns) noexcept {
  ++counts_[bucket_index(value_ns)];
  ++total_;
  max_ = std::max(max_, value_ns);
  sum_ += static_cast<long double>(value_ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double LatencyHistogram::quantile_ns(double q) const noexcept {
  if (total_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const auto wanted = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= wanted) return std::min(bucket_midpoint(i), static_cast<double>(max_));
  }
  return static_cast<double>(max_);
}

double LatencyHistogram::mean_ns() const noexcept {
  return total_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(total_));
}

}  // namespace loadgen
