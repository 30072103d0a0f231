#pragma once

namespace loadgen {

struct Options;
class Workload;

/// Connects, applies the load, measures, prints the report; returns the exit status.
///
/// 0: the run completed and every response matched; 1: the run failed (connect error,
/// connection lost, stalled server, protocol error) or some response bytes differed.
int run_benchmark(const Options& options, const Workload& workload);

}  // namespace loadgen
