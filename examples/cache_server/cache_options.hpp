#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/options.hpp>

namespace connkit::examples {

/// Exit status of memcached's `return 1` from its option loop (a bad value).
inline constexpr int exit_bad_option = 1;
/// EX_USAGE: what memcached exits with for checks made after its option loop (-I limits,
/// port range, -B, running as root without -u).
inline constexpr int exit_usage = 64;
/// EX_NOUSER: -u names no such user.
inline constexpr int exit_no_user = 67;
/// EX_OSERR: a listener could not be opened, or the identity switch failed.
inline constexpr int exit_os_error = 71;

/// Smallest -I memcached accepts (its ITEM_SIZE_MAX_LOWER_LIMIT).
inline constexpr std::uint64_t item_size_lower_limit = 1024;
/// Largest -I memcached accepts (its ITEM_SIZE_MAX_UPPER_LIMIT, a gigabyte).
inline constexpr std::uint64_t item_size_upper_limit = std::uint64_t{1} << 30;
/// Most worker threads (-t): cache::Endpoint keeps 1024 per-worker counter slots.
inline constexpr long long max_threads = 1024;

/// memcached's refusal to run as root without -u (memcached.c, word for word).
inline constexpr std::string_view root_without_user_message = "can't run as root without the -u switch";

/// Everything cache_server is started with, read from memcached 1.6's command line.
struct CacheServerConfig {
  /// Listeners (handlers left empty: main() sets them), -t, -c, -R, idle_timeout and -v.
  ServerOptions server;
  /// The protocol of each of server.listeners, in order: its -l proto[...] prefix, else -B.
  std::vector<cache::ProtocolChoice> protocols;
  cache::StoreOptions store;         ///< -m and -I
  cache::EndpointOptions endpoint;   ///< -B (for `stats settings` and listeners without proto[...]), -C and -F
  std::string user;                  ///< -u: the account to switch to after binding, when started as root
  int udp_port = 0;                  ///< -U as given (0 = off): a UDP listener on each -l address
  bool listen_given = false;         ///< -l was given (otherwise the default 127.0.0.1 was used)
  bool daemonize = false;            ///< -d: run in the background (process_control.hpp)
  std::string pid_file;              ///< -P: where the serving process writes its pid; empty: nowhere
  bool enable_shutdown = false;      ///< -A: the `shutdown` command stops the server
  bool raise_core_limit = false;     ///< -r: raise the core file limit (and keep the directory with -d)
  bool lock_memory = false;          ///< -k: mlockall(); a failure warns and serving goes on
  std::string interfaces;            ///< every -l value, joined by ',' (memcached's settings.inter, in its messages)
  /// memcached options accepted without effect, by name ("slab_chunk_max", "-f"); main()
  /// prints "ignoring memcached tuning option 'X'" for each at -v.
  std::vector<std::string> ignored_options;
};

/// What main() does with a parsed command line.
enum class CliAction : std::uint8_t {
  run,      ///< start the server
  help,     ///< print cache_server_usage() to stdout, exit 0
  version,  ///< print cache_server_version_line() to stdout, exit 0
  license,  ///< print cache_server_license() to stdout, exit 0
  fail,     ///< print `messages` to stderr, exit with `exit_status`
};

/// The outcome of parse_cache_server_command_line().
struct CliResult {
  CliAction action = CliAction::run;  ///< what to do next
  int exit_status = 0;                ///< for CliAction::fail: memcached's exit status for that error
  CacheServerConfig config;           ///< for CliAction::run: the settings
  /// Lines for stderr, without "\n": the error for `fail`, warnings (many threads) for `run`.
  std::vector<std::string> messages;
};

/// An option a program built on cache_server's command line adds, or takes over from
/// memcached's (read_through_cache's -b names its backend, not the listen backlog). It
/// always takes a value, in any of the forms memcached's options do.
struct ExtraOption {
  char name;                   ///< the short option
  std::string_view long_name;  ///< empty: short form only
  /// Takes the value; returns an error message for stderr, empty when the value is good.
  std::function<std::string(std::string_view value)> apply;
};

/// Parses memcached 1.6's options as its getopt_long loop does: short options cluster
/// (`-vv`, `-vCF`), values attach or follow (`-p11211`, `-p 11211`, `--port=11211`,
/// `--port 11211`), long names may be abbreviated while unambiguous, operands are ignored
/// and `--` ends the options. Stops at the first error, as memcached does. `argv[0]` is
/// the program name used in getopt-style messages. `extra` options come before memcached's
/// (an error from one fails with exit_bad_option). Pure: reads no environment.
CliResult parse_cache_server_command_line(int argc, const char* const* argv, std::span<const ExtraOption> extra = {});

/// The -h text: memcached's format, listing only the options cache_server implements.
std::string cache_server_usage();

/// The -V line: "cache_server <token>", where <token> is what the `version` command answers.
std::string cache_server_version_line();

/// The -i text: the -V line, a blank line, then the licensing statement.
std::string cache_server_license();

/// What to do about the process's identity once the listeners are bound.
enum class PrivilegeAction : std::uint8_t {
  keep,         ///< not root: -u is ignored, as memcached ignores it
  switch_user,  ///< root with -u: setgroups/setgid/setuid to that user (`-u root` keeps root)
  refuse,       ///< root without -u: print root_without_user_message, exit exit_usage
};

/// memcached's rule: root (real or effective uid 0) must name a user with -u.
PrivilegeAction privilege_action(unsigned uid, unsigned euid, std::string_view user) noexcept;

}  // namespace connkit::examples
