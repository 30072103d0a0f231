#pragma once

#include <string>

#include "cache_options.hpp"

namespace connkit::examples {

/// memcached's checks of -S and -Y after its option loop (memcached.c, main()): each chooses
/// the protocol when -B was not given (-S binary, then -Y ascii, so -Y wins over -S), refuses
/// a -B that allows the other protocol, and refuses UDP. Returns memcached's message for an
/// exit with exit_usage, empty when the settings stand.
std::string apply_auth_flags(CacheServerConfig& config, bool protocol_given);

}  // namespace connkit::examples
