#include <connkit/log.hpp>

#include <algorithm>
#include <string>

#include <unistd.h>

namespace connkit {

LogSink stderr_log_sink() {
  return [](int, std::string_view line) {
    std::string out;
    out.reserve(line.size() + 1);
    out.append(line);
    out.push_back('\n');
    // One write() per line keeps lines from different threads whole.
    const char* p = out.data();
    std::size_t left = out.size();
    while (left != 0) {
      const ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n <= 0) return;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  };
}

}  // namespace connkit

#include <cstdarg>
#include <cstdio>

#include "log_line.hpp"

namespace connkit::detail {

void vlog_line(const Logger& log, int level, const char* format, va_list args) {
  if (!log.enabled(level)) return;
  char line[512];
  const int n = std::vsnprintf(line, sizeof line, format, args);
  if (n < 0) return;
  log.write(level, std::string_view(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1)));
}

void logf(const Logger& log, int level, const char* format, ...) {
  if (!log.enabled(level)) return;
  va_list args;
  va_start(args, format);
  vlog_line(log, level, format, args);
  va_end(args);
}

}  // namespace connkit::detail
