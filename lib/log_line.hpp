#pragma once

#include <atomic>
#include <cstdarg>
#include <string_view>

#include <connkit/log.hpp>

namespace connkit::detail {

/// The server's log: the host's sink and the one runtime verbosity every log line is
/// filtered by. It starts at ServerOptions::verbosity; Server::set_verbosity() and
/// Connection::set_verbosity() (memcached's `verbosity` command) change it for all threads.
class Logger {
 public:
  /// `sink` must outlive the logger (it is the server's copy of ServerOptions::log).
  Logger(const LogSink& sink, int verbosity) noexcept : sink_(sink), verbosity_(verbosity) {}
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  /// The current verbosity. Any thread; a relaxed load.
  int verbosity() const noexcept { return verbosity_.load(std::memory_order_relaxed); }
  /// Changes the verbosity for every thread. Any thread.
  void set_verbosity(int level) noexcept { verbosity_.store(level, std::memory_order_relaxed); }
  /// True if a line at `level` would reach a sink.
  bool enabled(int level) const noexcept { return level <= verbosity() && sink_; }
  /// Hands `line` to the sink if `level` is enabled. Any thread.
  void write(int level, std::string_view line) const {
    if (enabled(level)) sink_(level, line);
  }

 private:
  const LogSink& sink_;
  std::atomic<int> verbosity_;
};

/// Formats a printf-style line into a stack buffer and hands it to the sink, if `level` is
/// enabled. No heap allocation (lines longer than 512 bytes are cut).
void vlog_line(const Logger& log, int level, const char* format, va_list args);

/// printf-style log line, formatted only when `level` is enabled. Any thread.
void logf(const Logger& log, int level, const char* format, ...) __attribute__((format(printf, 3, 4)));

}  // namespace connkit::detail
