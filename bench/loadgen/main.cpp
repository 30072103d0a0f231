// loadgen: a closed-loop load generator for connkit's benchmarks (see bench/README.md).

#include "options.hpp"
#include "runner.hpp"
#include "workload.hpp"

#include <exception>
#include <iostream>
#include <string>

/// Parses the command line, picks the workload and runs the benchmark.
int main(int argc, char** argv) {
  loadgen::Options options;
  std::string error;
  switch (loadgen::parse_options(argc, argv, options, error)) {
    case loadgen::ParseStatus::help:
      loadgen::print_usage(std::cout, argv[0]);
      return 0;
    case loadgen::ParseStatus::error:
      std::cerr << "loadgen: " << error << "\n";
      loadgen::print_usage(std::cerr, argv[0]);
      return 2;
    case loadgen::ParseStatus::run:
      break;
  }
  const auto workload = loadgen::make_workload(options);
  if (!workload) {
    std::cerr << "loadgen: unknown mode '" << options.mode << "' (known: " << loadgen::workload_names()
              << ")\n";
    loadgen::print_usage(std::cerr, argv[0]);
    return 2;
  }
  try {
    return loadgen::run_benchmark(options, *workload);
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return 1;
  }
}
