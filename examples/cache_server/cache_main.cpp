// cache_server's main() once its command line is parsed, shared with the programs built on
// it (read_through_cache): -h, -V, root and -u, the file limit, listeners, signals.

#include "cache_main.hpp"

#include <utility>  // before Asio (Boost 1.74)

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/connkit.hpp>

#include "process_control.hpp"

namespace {

namespace ex = connkit::examples;

/// The running program's name, for messages (set once by run_cache_program).
const char* program = "cache_server";

/// The account -u names, looked up before binding so a typo fails before anything opens.
struct TargetUser {
  std::string name;  ///< as given to -u
  uid_t uid = 0;     ///< its uid
  gid_t gid = 0;     ///< its primary gid
};

void print_lines(const std::vector<std::string>& lines) {
  for (const std::string& line : lines) std::fprintf(stderr, "%s\n", line.c_str());
}

/// "127.0.0.1:11211 (tcp)", "[::1]:11211 (tcp)" or "unix:/path (mode 700)".
std::string describe(const connkit::ListenerOptions& l, std::uint16_t bound_port) {
  if (l.transport == connkit::Transport::unix_stream) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", l.unix_mode);
    return "unix:" + l.path + " (mode " + mode + ")";
  }
  const bool v6 = l.host.find(':') != std::string::npos;
  return (v6 ? "[" + l.host + "]" : l.host) + ":" + std::to_string(bound_port) +
         (l.transport == connkit::Transport::udp ? " (udp)" : " (tcp)");
}

/// memcached's message when a listener cannot be opened (it exits EX_OSERR after it):
/// "failed to listen on TCP port N: <error>", "... UDP port N: ...", or with -l, "failed to
/// listen on one of interface(s) <-l>: <error>". Server::start() names the failed listener
/// "bind udp HOST:PORT" for UDP (docs/cache.md, "UDP").
std::string listen_failure(const ex::CacheServerConfig& config, const connkit::ServerOptions& options,
                           const boost::system::system_error& e) {
  const std::string cause = e.code().message();
  if (!config.interfaces.empty()) return "failed to listen on one of interface(s) " + config.interfaces + ": " + cause;
  if (std::string_view(e.what()).substr(0, 9) == "bind udp ") {
    return "failed to listen on UDP port " + std::to_string(config.udp_port) + ": " + cause;
  }
  if (std::string_view(e.what()).substr(0, 5) == "bind ") {
    const connkit::ListenerOptions& first = options.listeners.front();
    if (first.transport == connkit::Transport::tcp) {
      return "failed to listen on TCP port " + std::to_string(first.port) + ": " + cause;
    }
  }
  return std::string(program) + ": failed to listen: " + e.what();
}

/// memcached sets RLIMIT_NOFILE to -c; raising the soft limit (and the hard one when root)
/// is enough for connections up to -c to get a descriptor, and never lowers a limit. Where
/// the hard limit is too low, memcached exits ("failed to set rlimit for open files");
/// cache_server raises the soft limit as far as it can, says how many connections fit, and
/// serves.
void raise_file_limit(std::size_t max_connections, unsigned threads) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  // Listeners, the signal pipe, each worker's epoll and wake-up descriptors, stdio.
  const rlim_t reserved = 32 + 4 * static_cast<rlim_t>(threads);
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + reserved;
  if (rl.rlim_cur >= wanted) return;
  rlimit raised{wanted, rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= wanted ? rl.rlim_max : wanted};
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return;
  raised = {rl.rlim_max, rl.rlim_max};  // not privileged: as far as the hard limit allows
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) raised.rlim_cur = rl.rlim_cur;
  const rlim_t fit = raised.rlim_cur > reserved ? raised.rlim_cur - reserved : 0;
  std::fprintf(stderr,
               "%s: failed to set rlimit for open files to %llu (-c %zu plus %llu of its own); the limit is %llu"
               " (hard %llu), so about %llu connections fit and more will be refused. Start as root, raise"
               " the hard limit (ulimit -Hn) or request a smaller -c.\n",
               program, static_cast<unsigned long long>(wanted), max_connections,
               static_cast<unsigned long long>(reserved), static_cast<unsigned long long>(raised.rlim_cur),
               static_cast<unsigned long long>(rl.rlim_max), static_cast<unsigned long long>(fit));
}

/// memcached's identity switch (setgroups, setgid, setuid) with its messages. On Linux,
/// glibc applies each call to every thread of the process, so the worker threads that
/// start() created lose root as well. Returns an exit status, 0 on success.
int assume_identity(const TargetUser& user) {
  if (::setgroups(0, nullptr) != 0) {
    // EPERM means already minimally privileged (memcached carries on in that case).
    const int error = errno;
    std::fprintf(stderr, "failed to drop supplementary groups: %s\n", std::strerror(error));
    if (error != EPERM) return ex::exit_os_error;
  }
  if (::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) {
    std::fprintf(stderr, "failed to assume identity of user %s\n", user.name.c_str());
    return ex::exit_os_error;
  }
  return 0;
}

/// What memcached prints as it stops: "Gracefully stopping" on SIGUSR1 (and `shutdown
/// graceful`) at any verbosity, "Exiting normally" on SIGINT or SIGTERM at -v and above.
void announce_stop(int signal_number, int verbosity) {
  if (signal_number == SIGUSR1) {
    std::fprintf(stderr, "Gracefully stopping\n");
  } else if (verbosity >= 1) {
    std::fprintf(stderr, "Exiting normally\n");
  }
}

/// -A: `shutdown` raises SIGINT and `shutdown graceful` SIGUSR1 in this process, as
/// memcached's do, so they stop the server the way those signals do.
void enable_shutdown_command(connkit::cache::EndpointOptions& endpoint) {
  endpoint.shutdown = [](connkit::cache::ShutdownMode mode) {
    ::kill(::getpid(), mode == connkit::cache::ShutdownMode::graceful ? SIGUSR1 : SIGINT);
  };
}

int serve(ex::CacheServerConfig config, const TargetUser* user, ex::Daemon* daemon) {
  raise_file_limit(config.server.max_connections, config.server.threads);
  connkit::cache::Store store(config.store);
  connkit::cache::Endpoint endpoint(store, config.endpoint);
  if (!config.endpoint.auth_file.empty()) {
    if (const std::string error = endpoint.load_auth_file(); !error.empty()) {
      std::fprintf(stderr, "%s\n", error.c_str());  // memcached's message and status
      return 1;
    }
  }
  const int verbosity = config.server.verbosity;
  connkit::ServerOptions options = std::move(config.server);
  for (std::size_t i = 0; i < options.listeners.size(); ++i) {
    // -B, or the listener's own proto[...]: negotiating (the default) or pinned.
    endpoint.configure(options.listeners[i],
                       i < config.protocols.size() ? config.protocols[i] : config.endpoint.protocol);
  }
  options.log = connkit::stderr_log_sink();

  // Signals are caught before any thread exists, so none of them takes the default action.
  boost::asio::io_context signals_io(1);
  boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGUSR1);
  // SIGHUP re-reads -Y's file, as memcached does (a failed read keeps the users); it never
  // stops the server.
  boost::asio::signal_set hangups(signals_io, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_hangup = [&](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (!endpoint.options().auth_file.empty()) {
      const std::string error = endpoint.load_auth_file();
      if (!error.empty() && verbosity >= 1) {
        std::fprintf(stderr, "%s; keeping the users read before\n", error.c_str());
      }
    }
    hangups.async_wait(on_hangup);
  };
  hangups.async_wait(on_hangup);
  connkit::Server server(std::move(options));
  endpoint.attach(server);
  try {
    server.start();  // binds every listener, then starts the worker threads
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "%s\n", listen_failure(config, server.options(), e).c_str());
    return ex::exit_os_error;
  }

  // Bound as root (so ports below 1024 work), now drop root before serving a request.
  if (user != nullptr) {
    for (const connkit::ListenerOptions& l : server.options().listeners) {
      // memcached creates its UNIX socket after the switch; hand ours to the user likewise.
      if (l.transport == connkit::Transport::unix_stream && ::chown(l.path.c_str(), user->uid, user->gid) != 0) {
        std::fprintf(stderr, "%s: chown %s: %s\n", program, l.path.c_str(), std::strerror(errno));
      }
    }
    if (const int status = assume_identity(*user); status != 0) {
      server.stop();
      server.join();
      return status;
    }
  }

  const connkit::ServerOptions& running = server.options();
  std::string line = std::string(program) + ": listening on ";
  for (std::size_t i = 0; i < running.listeners.size(); ++i) {
    line += describe(running.listeners[i], server.port(i)) + ", ";
  }
  line += std::to_string(running.threads) + " threads, " + std::to_string(store.options().memory_limit >> 20) +
          " MB memory limit, " + std::to_string(store.options().item_size_max) + "-byte items";
  if (server.verbosity() >= 1) {  // memcached is silent at -v0; this line is ours, at -v
    std::fprintf(stderr, "%s\n", line.c_str());
    if (user != nullptr) std::fprintf(stderr, "%s: running as user %s\n", program, user->name.c_str());
  }
  std::optional<ex::PidFile> pid_file;
  if (!config.pid_file.empty()) pid_file.emplace(config.pid_file);  // as the user serving, as memcached
  if (daemon != nullptr) daemon->ready(server.verbosity() >= 1);

  // stop() runs as an ordinary completion, not inside a signal handler.
  signals.async_wait([&server, &hangups](const boost::system::error_code& ec, int signal_number) {
    if (!ec) announce_stop(signal_number, server.verbosity());
    hangups.cancel();
    server.stop();
  });
  signals_io.run();
  server.join();
  return 0;
}

}  // namespace

namespace connkit::examples {

int run_cache_program(const CacheProgram& cache_program, CliResult parsed) {
  program = cache_program.name;
  switch (parsed.action) {
    case ex::CliAction::help:
      std::fputs(cache_program.usage.c_str(), stdout);
      return 0;
    case ex::CliAction::version:
      std::printf("%s %s\n", program, cache::EndpointOptions{}.version.c_str());
      return 0;
    case ex::CliAction::license:
      std::fputs(ex::cache_server_license().c_str(), stdout);
      return 0;
    case ex::CliAction::fail:
      print_lines(parsed.messages);
      return parsed.exit_status;
    case ex::CliAction::run:
      break;
  }
  ex::CacheServerConfig& config = parsed.config;
  print_lines(parsed.messages);  // warnings: UDP, many threads
  if (config.server.verbosity >= 1) {
    for (const std::string& name : config.ignored_options) {
      std::fprintf(stderr, "ignoring memcached tuning option '%s'\n", name.c_str());
    }
  }

  TargetUser target;
  switch (ex::privilege_action(::getuid(), ::geteuid(), config.user)) {
    case ex::PrivilegeAction::refuse:
      std::fprintf(stderr, "%s\n", std::string(ex::root_without_user_message).c_str());
      return ex::exit_usage;
    case ex::PrivilegeAction::switch_user: {
      const passwd* pw = ::getpwnam(config.user.c_str());
      if (pw == nullptr) {
        std::fprintf(stderr, "can't find the user %s to switch to\n", config.user.c_str());
        return ex::exit_no_user;
      }
      target = {config.user, pw->pw_uid, pw->pw_gid};
      break;
    }
    case ex::PrivilegeAction::keep:
      if (!config.user.empty() && config.server.verbosity >= 1) {
        std::fprintf(stderr, "ignoring -u %s: not running as root\n", config.user.c_str());
      }
      break;
  }
  const bool switching = !target.name.empty();
  if (config.endpoint.sasl) {
    // memcached's sasl_defs.c: the password database is the file this names, if any.
    if (const char* pwdb = std::getenv("MEMCACHED_SASL_PWDB"); pwdb != nullptr) {
      config.endpoint.sasl_pwdb = pwdb;
    } else if (config.server.verbosity >= 1) {
      std::fprintf(stderr, "INFO: MEMCACHED_SASL_PWDB not specified. Internal passwd database disabled\n");
    }
  }
  if (cache_program.prepare) cache_program.prepare(config);
  if (config.enable_shutdown) enable_shutdown_command(config.endpoint);
  // memcached's order: the core limit, then -d (before any thread or socket), then -k.
  if (config.raise_core_limit && !ex::raise_core_limit()) return ex::exit_os_error;
  std::optional<ex::Daemon> daemon =
      config.daemonize ? ex::Daemon::start(config.raise_core_limit) : std::optional<ex::Daemon>();
  if (config.daemonize && !daemon) {
    std::fprintf(stderr, "failed to daemon() in order to daemonize\n");
    return EXIT_FAILURE;
  }
  if (config.lock_memory) ex::lock_memory();
  try {
    return serve(std::move(config), switching ? &target : nullptr, daemon ? &*daemon : nullptr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace connkit::examples
