#include "runner.hpp"

#include "connection.hpp"
#include "options.hpp"
#include "run_control.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace loadgen {

namespace {

using boost::asio::ip::tcp;

constexpr auto stall_timeout = std::chrono::seconds(5);  // no completion this long fails the run
constexpr auto poll_interval = std::chrono::milliseconds(20);
constexpr auto stall_limit = std::chrono::seconds(1);    // a request waiting longer was lost

/// One client thread: its io_context, its connections and what it measured.
struct Worker {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  WorkerStats stats;
  std::vector<std::unique_ptr<Connection>> connections;
  std::thread thread;
};

using Workers = std::vector<std::unique_ptr<Worker>>;

/// The measured interval of a run.
struct Window {
  Clock::time_point start;
  Clock::time_point end;
};

/// `seconds` as a clock duration.
Clock::duration to_duration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

/// Completed operations of all workers, warm-up included.
std::uint64_t total_completed(const Workers& workers) {
  std::uint64_t total = 0;
  for (const auto& worker : workers) total += worker->stats.completed.load(std::memory_order_relaxed);
  return total;
}

/// Moves the run through warm-up and measurement; false if it failed or stalled.
bool coordinate(const Options& options, RunControl& control, const Workers& workers, Window& window) {
  const Clock::time_point begin = Clock::now();
  Clock::time_point deadline = begin + to_duration(options.warmup_s);
  std::uint64_t last_completed = 0;
  Clock::time_point last_progress = begin;
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (control.failed()) return false;
    const std::uint64_t completed = total_completed(workers);
    if (completed != last_completed) {
      last_completed = completed;
      last_progress = now;
    } else if (now - last_progress >= stall_timeout) {
      control.fail("no response for " + std::to_string(stall_timeout.count()) + " s: server stalled");
      return false;
    }
    if (control.phase() == Phase::warmup) {
      if (now >= deadline) {
        control.set_phase(Phase::measure);
        window.start = Clock::now();
        deadline = window.start + to_duration(options.duration_s);
        continue;
      }
    } else if (options.ops != 0) {
      if (control.op_limit_reached(window.end)) return true;
    } else if (now >= deadline) {
      control.set_phase(Phase::finished);
      window.end = Clock::now();
      return true;
    }
    const bool waiting_for_deadline = control.phase() == Phase::warmup || options.ops == 0;
    std::this_thread::sleep_until(waiting_for_deadline ? std::min(deadline, now + poll_interval)
                                                       : now + poll_interval);
  }
}

/// Fails the run if a request has waited longer than stall_limit for its response: the
/// server lost it (a short run can end before the coordinator's stall_timeout notices).
bool check_no_stalled_connection(const Workers& workers, RunControl& control) {
  const Clock::time_point now = Clock::now();
  std::size_t stalled = 0;
  Clock::duration longest{};
  for (const auto& worker : workers) {
    for (const auto& connection : worker->connections) {
      Clock::time_point made_at;
      if (connection->oldest_in_flight(made_at) && now - made_at >= stall_limit) {
        ++stalled;
        longest = std::max(longest, now - made_at);
      }
    }
  }
  if (stalled == 0) return true;
  char message[128];
  std::snprintf(message, sizeof message, "%zu connection(s) waited over %.1f s for a response (up to %.1f s)",
                stalled, std::chrono::duration<double>(stall_limit).count(),
                std::chrono::duration<double>(longest).count());
  control.fail(message);
  return false;
}

/// Prints the human-readable report and, last, the RESULT line.
void print_report(const LatencyHistogram& histogram, double elapsed_s, std::uint64_t all_ops,
                  std::uint64_t mismatches, const Workload& workload) {
  const std::uint64_t ops = histogram.count();
  const double ops_per_sec = elapsed_s > 0 ? static_cast<double>(ops) / elapsed_s : 0.0;
  const double p50 = histogram.quantile_ns(0.50) / 1000.0;
  const double p99 = histogram.quantile_ns(0.99) / 1000.0;
  const double p999 = histogram.quantile_ns(0.999) / 1000.0;
  std::printf("measured:   %llu ops in %.3f s\n", static_cast<unsigned long long>(ops), elapsed_s);
  std::printf("throughput: %.1f ops/s\n", ops_per_sec);
  std::printf("latency us: p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f mean=%.1f\n", p50,
              histogram.quantile_ns(0.90) / 1000.0, p99, p999,
              static_cast<double>(histogram.max_ns()) / 1000.0, histogram.mean_ns() / 1000.0);
  std::printf("all ops:    %llu (warm-up included)\n", static_cast<unsigned long long>(all_ops));
  if (mismatches == 0) {
    std::printf("validation: ok, every response matched\n");
  } else {
    std::printf("validation: FAILED, %llu %s\n", static_cast<unsigned long long>(mismatches),
                std::string(workload.mismatch_unit()).c_str());
  }
  const std::string summary = workload.summary();
  if (!summary.empty()) std::printf("%s\n", summary.c_str());
  std::printf("RESULT ops_per_sec=%.1f p50_us=%.1f p99_us=%.1f p999_us=%.1f ops=%llu\n", ops_per_sec, p50,
              p99, p999, static_cast<unsigned long long>(ops));
  std::fflush(stdout);
}

}  // namespace

int run_benchmark(const Options& options, const Workload& workload) {
  std::printf("loadgen: %s to %s:%u, %zu connection(s) x depth %zu, %zu thread(s), warm-up %.1f s, ",
              std::string(workload.name()).c_str(), options.host.c_str(), static_cast<unsigned>(options.port),
              options.connections, options.depth, options.threads, options.warmup_s);
  if (options.ops != 0) {
    std::printf("measuring %llu ops\n", static_cast<unsigned long long>(options.ops));
  } else {
    std::printf("measuring %.1f s\n", options.duration_s);
  }
  std::printf("workload:   %s\n", workload.describe().c_str());
  std::fflush(stdout);

  tcp::resolver::results_type endpoints;
  {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    endpoints = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec) {
      std::fprintf(stderr, "loadgen: cannot resolve %s: %s\n", options.host.c_str(), ec.message().c_str());
      return 1;
    }
  }
  workload.prepare(options.host, options.port);

  RunControl control(options.ops);
  Workers workers;
  for (std::size_t i = 0; i < options.threads; ++i) workers.push_back(std::make_unique<Worker>());
  try {
    for (std::size_t i = 0; i < options.connections; ++i) {
      Worker& worker = *workers[i % workers.size()];
      auto connection = std::make_unique<Connection>(worker.io, i, workload.make_session(i), options.depth,
                                                     control, worker.stats);
      connection->connect(endpoints);
      worker.connections.push_back(std::move(connection));
    }
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "loadgen: cannot connect to %s:%u: %s\n", options.host.c_str(),
                 static_cast<unsigned>(options.port), e.what());
    return 1;
  }

  for (auto& worker : workers) {
    for (auto& connection : worker->connections) connection->start();
  }
  for (auto& worker : workers) {
    Worker* w = worker.get();
    w->thread = std::thread([w] { w->io.run(); });
  }

  Window window;
  bool ok = coordinate(options, control, workers, window);
  control.set_phase(Phase::finished);
  for (auto& worker : workers) worker->io.stop();
  for (auto& worker : workers) worker->thread.join();
  ok = ok && check_no_stalled_connection(workers, control);

  if (!ok) {
    std::fprintf(stderr, "loadgen: run failed: %s\n", control.failure().c_str());
    return 1;
  }

  LatencyHistogram histogram;
  std::uint64_t mismatches = 0;
  for (const auto& worker : workers) {
    histogram.merge(worker->stats.histogram);
    mismatches += worker->stats.mismatches;
  }
  print_report(histogram, std::chrono::duration<double>(window.end - window.start).count(),
               total_completed(workers), mismatches, workload);
  if (mismatches != 0) {
    std::fprintf(stderr, "loadgen: %llu %s: responses did not match what was expected\n",
                 static_cast<unsigned long long>(mismatches), std::string(workload.mismatch_unit()).c_str());
    return 1;
  }
  if (histogram.count() == 0) {
    std::fprintf(stderr, "loadgen: no operation completed in the measured window\n");
    return 1;
  }
  return 0;
}

}  // namespace loadgen
