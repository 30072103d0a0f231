#pragma once

#include <functional>
#include <string>

#include "cache_options.hpp"

namespace connkit::examples {

/// A program built on cache_server's command line and main().
struct CacheProgram {
  const char* name = "cache_server";  ///< in messages and the -V line
  std::string usage;                  ///< printed for -h
  /// Called once the identity checks passed, before the store and endpoint are made
  /// (read_through_cache sets its loader here). May be empty.
  std::function<void(CacheServerConfig&)> prepare;
};

/// cache_server's main() once the command line is parsed: prints -h, -V or the parse error;
/// refuses root without -u (memcached's message and status); raises the file limit; serves
/// the endpoint on the configured listeners, switching to -u's user after binding; stops
/// gracefully on SIGINT or SIGTERM. Returns the exit status.
int run_cache_program(const CacheProgram& program, CliResult parsed);

}  // namespace connkit::examples
