#pragma once

#include <functional>
#include <string_view>

namespace connkit {

/// Receives one log line (no trailing newline) at a verbosity level:
/// 1 = memcached's -v, 2 = -vv (connection open/close), 3 = -vvv (state transitions).
/// Called from worker and listener threads; a sink shared between them must be thread-safe.
using LogSink = std::function<void(int level, std::string_view line)>;

/// A sink that writes each line to stderr with one write() call (thread-safe, unbuffered).
LogSink stderr_log_sink();

}  // namespace connkit
