#include "options.hpp"

#include <getopt.h>

#include <charconv>
#include <limits>
#include <ostream>
#include <string_view>
#include <system_error>

namespace loadgen {

namespace {

/// Parses all of `text` as a number in [min, max]; false if malformed or out of range.
template <class T>
bool parse_number(std::string_view text, T min, T max, T& value) {
  T parsed{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return false;
  if (!(parsed >= min && parsed <= max)) return false;
  value = parsed;
  return true;
}

/// Sets `error` to a message about flag `flag` with value `value`.
ParseStatus bad_value(std::string& error, char flag, const char* value, const char* expected) {
  error = std::string("bad value '") + value + "' for -" + flag + " (expected " + expected + ")";
  return ParseStatus::error;
}

}  // namespace

ParseStatus parse_options(int argc, char** argv, Options& options, std::string& error) {
  enum LongOnly : int { set_ratio_opt = 256, mget_opt, prefill_opt, binary_get_opt };
  static const option long_options[] = {{"help", no_argument, nullptr, 'H'},
                                        {"set-ratio", required_argument, nullptr, set_ratio_opt},
                                        {"mget", required_argument, nullptr, mget_opt},
                                        {"prefill", no_argument, nullptr, prefill_opt},
                                        {"binary-get", required_argument, nullptr, binary_get_opt},
                                        {nullptr, 0, nullptr, 0}};
  bool duration_given = false;
  opterr = 0;
  optind = 1;
  int opt = 0;
  while ((opt = getopt_long(argc, argv, ":m:h:p:c:d:s:W:T:n:j:K:V:", long_options, nullptr)) != -1) {
    switch (opt) {
      case 'm':
        options.mode = optarg;
        break;
      case 'h':
        options.host = optarg;
        break;
      case 'p':
        if (!parse_number<std::uint16_t>(optarg, 1, 65535, options.port))
          return bad_value(error, 'p', optarg, "a port 1..65535");
        break;
      case 'c':
        if (!parse_number<std::size_t>(optarg, 1, 100000, options.connections))
          return bad_value(error, 'c', optarg, "1..100000 connections");
        break;
      case 'd':
        if (!parse_number<std::size_t>(optarg, 1, 4096, options.depth))
          return bad_value(error, 'd', optarg, "1..4096 requests in flight");
        break;
      case 's':
        if (!parse_number<std::size_t>(optarg, 1, 1 << 20, options.size))
          return bad_value(error, 's', optarg, "1..1048576 bytes");
        break;
      case 'W':
        if (!parse_number<double>(optarg, 0.0, 3600.0, options.warmup_s))
          return bad_value(error, 'W', optarg, "0..3600 seconds");
        break;
      case 'T':
        if (!parse_number<double>(optarg, 0.001, 86400.0, options.duration_s))
          return bad_value(error, 'T', optarg, "0.001..86400 seconds");
        duration_given = true;
        break;
      case 'n':
        if (!parse_number<std::uint64_t>(optarg, 1, std::numeric_limits<std::uint64_t>::max(), options.ops))
          return bad_value(error, 'n', optarg, "a positive operation count");
        break;
      case 'j':
        if (!parse_number<std::size_t>(optarg, 1, 256, options.threads))
          return bad_value(error, 'j', optarg, "1..256 threads");
        break;
      case 'K':
        if (!parse_number<std::uint64_t>(optarg, 1, 1000000000, options.key_space))
          return bad_value(error, 'K', optarg, "1..1000000000 keys");
        break;
      case 'V':
        if (!parse_number<std::size_t>(optarg, 0, 1 << 20, options.value_size))
          return bad_value(error, 'V', optarg, "0..1048576 bytes");
        break;
      case set_ratio_opt:
        if (!parse_number<double>(optarg, 0.0, 1.0, options.set_ratio)) {
          error = std::string("bad value '") + optarg + "' for --set-ratio (expected 0..1)";
          return ParseStatus::error;
        }
        break;
      case mget_opt:
        if (!parse_number<std::size_t>(optarg, 1, 1000, options.mget)) {
          error = std::string("bad value '") + optarg + "' for --mget (expected 1..1000 keys)";
          return ParseStatus::error;
        }
        break;
      case prefill_opt:
        options.prefill = true;
        break;
      case binary_get_opt:
        if (std::string_view(optarg) != "get" && std::string_view(optarg) != "getk") {
          error = std::string("bad value '") + optarg + "' for --binary-get (expected get or getk)";
          return ParseStatus::error;
        }
        options.binary_getk = std::string_view(optarg) == "getk";
        break;
      case 'H':
        return ParseStatus::help;
      case ':':
        error = std::string("option -") + static_cast<char>(optopt) + " needs a value";
        return ParseStatus::error;
      default:
        error = optopt != 0 ? std::string("unknown option -") + static_cast<char>(optopt)
                            : std::string("unknown option ") + argv[optind - 1];
        return ParseStatus::error;
    }
  }
  if (optind != argc) {
    error = std::string("unexpected argument '") + argv[optind] + "'";
    return ParseStatus::error;
  }
  if (duration_given && options.ops != 0) {
    error = "-T and -n are exclusive: run for a time or for a number of operations";
    return ParseStatus::error;
  }
  if (options.mget > options.key_space) {
    error = "--mget may not exceed -K: the keys of one get are distinct";
    return ParseStatus::error;
  }
  if (options.threads > options.connections) options.threads = options.connections;
  return ParseStatus::run;
}

void print_usage(std::ostream& out, const char* argv0) {
  out << "usage: " << argv0
      << " [-m MODE] [-h HOST] [-p PORT] [-c CONNS] [-d DEPTH] [-s SIZE]\n"
         "       [-W SECONDS] [-T SECONDS | -n OPS] [-j THREADS]\n"
         "       [-K KEYS] [-V BYTES] [--set-ratio R] [--mget N] [--prefill] [--binary-get OP]\n"
         "Closed-loop load generator: CONNS connections each keep DEPTH requests in flight.\n"
         "  -m MODE     workload: echo, memcache (text protocol) or memcache-binary\n"
         "              (binary protocol: set = SET, get = GET as memtier_benchmark sends them,\n"
         "              multi-get = GETKQ... NOOP) (default echo)\n"
         "  -h HOST     server host (default 127.0.0.1)\n"
         "  -p PORT     server port (default 11311)\n"
         "  -c CONNS    connections (default 50)\n"
         "  -d DEPTH    requests in flight per connection (default 1)\n"
         "  -s SIZE     request size in bytes; echo: a line ending in \\n (default 32)\n"
         "  -W SECONDS  unmeasured warm-up before measuring (default 1)\n"
         "  -T SECONDS  measure for this long (default 5)\n"
         "  -n OPS      measure this many operations instead of -T\n"
         "  -j THREADS  client threads (default 1)\n"
         "memcache modes (keys \"key:\" + 28 digits; every reply is parsed and checked):\n"
         "  -K KEYS     key space (default 100000)\n"
         "  -V BYTES    value size (default 100)\n"
         "  --set-ratio R  share of requests that are sets, 0..1 (default 0.1)\n"
         "  --mget N    keys per get, distinct (default 1)\n"
         "  --prefill   set every key once (noreply, pipelined, one connection) before the run\n"
         "  --binary-get OP  memcache-binary: a single-key get is GET (memtier's, the default)\n"
         "              or GETK (libmemcached's)\n"
         "  --help      show this text\n"
         "Prints ops/s and latency percentiles; the last line is machine-readable:\n"
         "  RESULT ops_per_sec=X p50_us=X p99_us=X p999_us=X ops=N\n"
         "A response that takes over 1 s, or none for 5 s, fails the run as a stalled server.\n"
         "Exit status: 0 ok, 1 run failed or responses did not match, 2 bad command line.\n";
}

}  // namespace loadgen
