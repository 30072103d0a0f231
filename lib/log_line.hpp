#pragma once

#include <cstdarg>
#include <string_view>

#include <connkit/options.hpp>

namespace connkit::detail {

/// Formats a printf-style line into a stack buffer and hands it to the options' sink,
/// if `level` <= verbosity. No heap allocation (lines longer than 512 bytes are cut).
void vlog_line(const ServerOptions& options, int level, const char* format, va_list args);

/// printf-style log line, formatted only when `level` <= verbosity. Any thread.
void logf(const ServerOptions& options, int level, const char* format, ...) __attribute__((format(printf, 3, 4)));

/// Hands `line` to the options' sink if `level` <= verbosity.
inline void log_line(const ServerOptions& options, int level, std::string_view line) {
  if (level <= options.verbosity && options.log) options.log(level, line);
}

}  // namespace connkit::detail
