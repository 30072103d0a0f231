#pragma once

// What memcached does to its own process for an operator, apart from serving: -d (run in the
// background), -P (a pid file), -r (core files) and -k (locked memory). Used by
// cache_main.cpp; each piece keeps memcached's messages.

#include <optional>
#include <string>

namespace connkit::examples {

/// memcached's -d. start() forks before any thread or socket exists; the parent waits and
/// exits, the child goes on to serve. Unlike memcached's parent, which exits 0 at once,
/// ours exits once the child is ready (listening, pid file written) with status 0, or with
/// the child's own exit status if it stops before that (a port in use: 71), so a service
/// manager's Type=forking start means "serving" and a failed start is seen as one. The
/// child's start-up errors go to the caller's stderr; once ready, its stdin, stdout and
/// stderr go to /dev/null unless it is to keep them (memcached keeps them at -v).
class Daemon {
 public:
  /// Forks. Returns only in the child: in a new session (setsid), in "/" unless
  /// `keep_directory` (-r: memcached stays where core files were meant to land), SIGHUP
  /// ignored, and every descriptor it inherited above stderr closed, so the daemon holds
  /// no pipe, lock or socket of whoever started it. Empty if fork or setsid failed (the
  /// caller prints memcached's "failed to daemon() in order to daemonize" and exits 1).
  static std::optional<Daemon> start(bool keep_directory);

  Daemon(Daemon&& other) noexcept;
  Daemon& operator=(Daemon&&) = delete;
  ~Daemon();

  /// Start-up is over: stdio to /dev/null unless `keep_stdio`, and the parent exits 0.
  void ready(bool keep_stdio) noexcept;

 private:
  explicit Daemon(int notify) noexcept : notify_(notify) {}
  int notify_ = -1;  // the pipe the waiting parent reads; -1 once ready() wrote to it
};

/// Closes every descriptor above stderr except `keep` (-1: none).
void close_inherited_descriptors(int keep) noexcept;

/// memcached's -P file: this process's pid and a newline, written as `path`.tmp and renamed
/// over `path`, so a reader never finds it empty; removed again when this goes (memcached
/// removes it only after -d; see the README). A file that names a running process is
/// overwritten with memcached's warning; a file that cannot be written is reported and the
/// server runs on without one, as memcached does.
class PidFile {
 public:
  explicit PidFile(std::string path);
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  ~PidFile();

 private:
  std::string path_;  // empty: nothing written, nothing to remove
};

/// memcached's -r: the core file limit raised to unlimited, else to its hard limit. False
/// (after memcached's "failed to ensure corefile creation") when cores stay off.
bool raise_core_limit() noexcept;

/// memcached's -k: mlockall(MCL_CURRENT | MCL_FUTURE). On failure memcached's warning, and
/// the server runs on unlocked.
void lock_memory() noexcept;

}  // namespace connkit::examples
