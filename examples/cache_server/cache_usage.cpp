#include "cache_options.hpp"

#include <charconv>
#include <chrono>
#include <string>

namespace connkit::examples {

std::string cache_server_version_line() { return "cache_server " + cache::EndpointOptions{}.version; }

std::string cache_server_usage() {
  constexpr std::uint64_t kib = 1024;
  constexpr std::uint64_t mib = 1024 * 1024;
  const ServerOptions server;
  const ListenerOptions listener;
  const cache::StoreOptions store;
  const cache::EndpointOptions endpoint;
  char mask[8];
  const auto mask_end = std::to_chars(mask, mask + sizeof mask, listener.unix_mode, 8).ptr;
  const auto n = [](auto v) { return std::to_string(v); };
  // memcached's usage() layout and wording, restricted to what cache_server implements.
  return cache_server_version_line() + "\n" +
         "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
         "-U, --udp-port=<num>      UDP port to listen on (default: 0, off)\n"
         "-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
         "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: " +
         std::string(mask, mask_end) + ")\n" +
         "-A, --enable-shutdown     enable ascii \"shutdown\" command\n"
         "-l, --listen=<addr>       interface to listen on (default: " + listener.host + ")\n" +
         "-d, --daemon              run as a daemon\n"
         "-r, --enable-coredumps    maximize core file limit\n"
         "-u, --user=<user>         assume identity of <username> (only when run as root)\n"
         "-m, --memory-limit=<num>  item memory in megabytes (default: " + n(store.memory_limit / mib) + ")\n" +
         "-M, --disable-evictions   return error on memory exhausted instead of evicting\n"
         "-c, --conn-limit=<num>    max simultaneous connections (default: " + n(server.max_connections) + ")\n" +
         "-k, --lock-memory         lock down all paged memory\n"
         "-v, --verbose             verbose (print errors/warnings while in event loop)\n"
         "-vv                       very verbose (also print client commands/responses)\n"
         "-vvv                      extremely verbose (internal state transitions)\n"
         "-h, --help                print this help and exit\n"
         "-i, --license             print the license statement and exit\n"
         "-V, --version             print version and exit\n"
         "-P, --pidfile=<file>      save PID in <file> (removed again on exit)\n"
         "-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)\n"
         "-n, --slab-min-size=<bytes> min space used for key+value+flags (default: " + n(store.slab_chunk_min) +
         ")\n" +
         "-t, --threads=<num>       number of threads to use (default: " + n(server.threads) + ")\n" +
         "-R, --max-reqs-per-event  maximum number of requests per event (default: " + n(server.reqs_per_event) +
         ")\n" +
         "-C, --disable-cas         disable use of CAS\n"
         "-b, --listen-backlog=<num> set the backlog queue limit (default: " + n(listener.backlog) + ")\n" +
         "-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: " +
         std::string(cache::protocol_text(endpoint.protocol)) + ")\n" +
         "-I, --max-item-size=<num> adjusts max item size (default: " + n(store.item_size_max / mib) +
         "m, min: " + n(item_size_lower_limit / kib) + "k, max: " + n(item_size_upper_limit / mib) + "m)\n" +
         "-S, --enable-sasl         turn on Sasl authentication (PLAIN; users from the file named by\n"
         "                          MEMCACHED_SASL_PWDB, user:pass lines)\n"
         "-F, --disable-flush-all   disable flush_all command\n"
         "-X, --disable-dumping     disable stats cachedump and lru_crawler metadump\n"
         "-Y, --auth-file=<file>    enable ASCII protocol authentication. format:\n"
         "                          user:pass\\nuser2:pass2\\n\n"
         "-o, --extended            comma separated list of extended options\n"
         "   - idle_timeout:        timeout for idle connections. (default: " +
         n(std::chrono::duration_cast<std::chrono::seconds>(server.idle_timeout).count()) + ", no timeout)\n" +
         "   - no_io_uring:         send replies with send(), not in one io_uring_enter per wake-up\n"
         "   - no_own_loop:         workers wait in Asio's run(), not in their own epoll set\n"
         "   - memcached's slab, LRU, hash and logger tuning options are accepted and ignored\n"
         "-L, -e, -N, -X and -W are accepted and ignored (noted at -v): see README.md\n";
}

std::string cache_server_license() {
  return cache_server_version_line() +
         "\n\n"
         "connkit, and cache_server with it, carries no license statement of its own yet:\n"
         "ask its authors before you redistribute it.\n"
         "\n"
         "It is built on Boost.Asio, distributed under the Boost Software License,\n"
         "Version 1.0 (https://www.boost.org/LICENSE_1_0.txt).\n";
}

PrivilegeAction privilege_action(unsigned uid, unsigned euid, std::string_view user) noexcept {
  if (uid != 0 && euid != 0) return PrivilegeAction::keep;
  return user.empty() ? PrivilegeAction::refuse : PrivilegeAction::switch_user;
}

}  // namespace connkit::examples
