#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace loadgen {

/// Everything loadgen is told on its command line.
struct Options {
  std::string mode = "echo";        ///< -m: workload (see make_workload)
  std::string host = "127.0.0.1";   ///< -h: server host name or address
  std::uint16_t port = 11311;       ///< -p: server TCP port
  std::size_t connections = 50;     ///< -c: client connections
  std::size_t depth = 1;            ///< -d: requests kept in flight on each connection
  std::size_t size = 32;            ///< -s: bytes per request
  double warmup_s = 1.0;            ///< -W: unmeasured warm-up, seconds
  double duration_s = 5.0;          ///< -T: measured time, seconds (when ops == 0)
  std::uint64_t ops = 0;            ///< -n: measured operations instead of a duration; 0 = use -T
  std::size_t threads = 1;          ///< -j: client threads, each with its own io_context
  std::uint64_t key_space = 100000; ///< -K: memcache keys
  std::size_t value_size = 100;     ///< -V: memcache value bytes
  double set_ratio = 0.1;           ///< --set-ratio: memcache share of sets
  std::size_t mget = 1;             ///< --mget: memcache keys per get
  bool prefill = false;             ///< --prefill: memcache sets every key before the run
  bool binary_getk = false;         ///< --binary-get getk: memcache-binary single gets are GETK
};

/// What parse_options decided.
enum class ParseStatus {
  run,    ///< options are valid: run the benchmark
  help,   ///< --help was asked for: print usage, exit 0
  error,  ///< bad command line: message set, print usage, exit 2
};

/// Parses argv into `options`; on ParseStatus::error, `error` says why.
ParseStatus parse_options(int argc, char** argv, Options& options, std::string& error);

/// Writes the usage text to `out`.
void print_usage(std::ostream& out, const char* argv0);

}  // namespace loadgen
