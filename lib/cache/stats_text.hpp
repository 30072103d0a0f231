#pragma once

#include <string>

#include <connkit/cache/endpoint.hpp>

namespace connkit::cache::detail {

class LoadTable;

/// `stats`: memcached's general stats lines ("STAT name value\r\n"), without the END line;
/// then the loader's counters when there is a load table.
std::string general_stats(const Endpoint& endpoint, const LoadTable* loads);
/// `stats conns`: each listening socket and connection (addr, listen_addr, state,
/// secs_since_last_cmd), without the END line.
std::string conns_stats(const Endpoint& endpoint);
/// `stats settings`, without the END line; `verbosity` is the serving server's.
std::string settings_stats(const Endpoint& endpoint, int verbosity);

}  // namespace connkit::cache::detail
