#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "histogram.hpp"

namespace loadgen {

using Clock = std::chrono::steady_clock;

/// The stage a run is in; only operations completed during `measure` are counted.
enum class Phase : int {
  warmup,   ///< load is applied, nothing is recorded
  measure,  ///< completions are counted and their latency recorded
  finished, ///< the coordinator is stopping the workers
};

/// State shared by the coordinator thread and every worker thread of one run.
class RunControl {
 public:
  /// Creates the control for a run measuring `op_limit` operations, or a duration if 0.
  explicit RunControl(std::uint64_t op_limit) : op_limit_(op_limit) {}

  /// The current phase (relaxed: a completion may see a change a little late).
  Phase phase() const noexcept { return phase_.load(std::memory_order_relaxed); }

  /// Moves the run to `phase`.
  void set_phase(Phase phase) noexcept { phase_.store(phase, std::memory_order_relaxed); }

  /// Claims one measured operation; false once op_limit operations were claimed.
  bool claim_op() noexcept {
    if (op_limit_ == 0) return true;
    const std::uint64_t claimed = claimed_ops_.fetch_add(1, std::memory_order_relaxed);
    if (claimed + 1 == op_limit_) {
      limit_reached_at_.store(Clock::now().time_since_epoch().count(), std::memory_order_release);
    }
    return claimed < op_limit_;
  }

  /// True once op_limit operations were measured; `at` is then when the last one completed.
  bool op_limit_reached(Clock::time_point& at) const noexcept {
    const auto ticks = limit_reached_at_.load(std::memory_order_acquire);
    if (ticks == 0) return false;
    at = Clock::time_point(Clock::duration(ticks));
    return true;
  }

  /// Records that the run failed (the first message is kept).
  void fail(const std::string& message) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (failure_.empty()) failure_ = message;
    failed_.store(true, std::memory_order_release);
  }

  /// True once fail() was called.
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }

  /// The first failure message.
  std::string failure() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }

 private:
  std::atomic<Phase> phase_{Phase::warmup};
  const std::uint64_t op_limit_;
  std::atomic<std::uint64_t> claimed_ops_{0};
  std::atomic<Clock::rep> limit_reached_at_{0};
  std::atomic<bool> failed_{false};
  mutable std::mutex mutex_;
  std::string failure_;
};

/// What one worker thread measured; read by other threads only after it has stopped,
/// except `completed`, which the coordinator polls to detect a stalled server.
struct WorkerStats {
  LatencyHistogram histogram;               ///< latencies of measured operations
  std::uint64_t mismatches = 0;             ///< response bytes that differed from the expected
  std::atomic<std::uint64_t> completed{0};  ///< every completed operation, warm-up included
};

}  // namespace loadgen
