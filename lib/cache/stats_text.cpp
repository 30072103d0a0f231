#include "stats_text.hpp"

#include <cinttypes>
#include <cstdio>

#include <sys/resource.h>
#include <unistd.h>

#include "prefix_stats.hpp"
#include "slabs.hpp"
#include "read_through.hpp"

namespace connkit::cache::detail {
namespace {

/// Appends memcached's "STAT <name> <value>\r\n" lines.
class StatWriter {
 public:
  explicit StatWriter(std::string& out) : out_(out) {}
  void operator()(std::string_view name, std::uint64_t value) { line(name, std::to_string(value)); }
  void line(std::string_view name, std::string_view value) {
    out_.append("STAT ").append(name).append(" ").append(value).append("\r\n");
  }

 private:
  std::string& out_;
};

std::string seconds_text(const timeval& tv) {
  char text[48];
  std::snprintf(text, sizeof text, "%ld.%06ld", static_cast<long>(tv.tv_sec), static_cast<long>(tv.tv_usec));
  return text;
}

}  // namespace

std::string general_stats(const Endpoint& endpoint, const LoadTable* loads) {
  std::string out;
  StatWriter stat(out);
  const Store& store = const_cast<Endpoint&>(endpoint).store();
  const std::int64_t now = store.now();
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const ServerStats conns = endpoint.connection_stats();
  const CommandStats commands = endpoint.command_stats();
  const StoreStats items = endpoint.store_stats();

  stat("pid", static_cast<std::uint64_t>(::getpid()));
  stat("uptime", static_cast<std::uint64_t>(now - endpoint.started()));
  stat("time", static_cast<std::uint64_t>(now));
  stat.line("version", endpoint.options().version);
  stat("pointer_size", 8 * sizeof(void*));
  stat.line("rusage_user", seconds_text(usage.ru_utime));
  stat.line("rusage_system", seconds_text(usage.ru_stime));
  stat("max_connections", conns.max_connections);
  for (const ConnectionStatField& c : connection_stat_fields) {
    // memcached's order puts its other lines among the connection counters.
    if (c.field == &ConnectionStats::auth_cmds) for_each_stat(commands, stat);
    if (c.field == &ConnectionStats::listen_disabled_num) {
      stat("limit_maxbytes", items.limit_maxbytes);
      stat("accepting_conns", conns.accepting_conns ? 1 : 0);
    }
    if (c.field == &ConnectionStats::conn_yields) stat("threads", conns.threads);
    if (c.memcached) stat(c.name, conns.total.*(c.field));
  }
  stat("bytes", items.bytes);
  stat("curr_items", items.curr_items);
  stat("total_items", items.total_items);
  stat("expired_unfetched", items.expired_unfetched);
  stat("evicted_unfetched", items.evicted_unfetched);
  stat("evicted_active", 0);  // no active bit, no segmented LRU: the 0s below too
  stat("evictions", items.evictions);
  stat("reclaimed", items.reclaimed);
  stat("crawler_reclaimed", items.crawler_reclaimed);
  stat("crawler_items_checked", items.crawler_items_checked);
  stat("lrutail_reflocked", 0);
  stat("moves_to_cold", 0);
  stat("moves_to_warm", 0);
  stat("moves_within_lru", 0);
  stat("direct_reclaims", items.direct_reclaims);
  if (loads != nullptr) {
    const LoadStats l = loads->stats();
    for (const LoadStatField& f : load_stat_fields) stat(f.name, l.*(f.field));
  }
  return out;
}

std::string conns_stats(const Endpoint& endpoint) {
  std::string out;
  StatWriter stat(out);
  if (endpoint.server() == nullptr) return out;
  for (const ConnectionInfo& c : endpoint.server()->connections()) {
    const std::string prefix = std::to_string(c.fd) + ":";
    if (c.transport == Transport::udp) stat.line(prefix + "UDP", "UDP");  // memcached's marker line
    stat.line(prefix + "addr", c.address);
    if (c.state != ConnState::listening && c.transport != Transport::udp) stat.line(prefix + "listen_addr", c.listen_address);
    stat.line(prefix + "state", "conn_" + std::string(to_string(c.state)));
    stat(prefix + "secs_since_last_cmd", static_cast<std::uint64_t>(c.idle.count()));
  }
  return out;
}

std::string settings_stats(const Endpoint& endpoint, int verbosity) {
  // memcached 1.6.18's process_stat_settings order, with the keys that mean something here
  // (docs/cache.md lists those left out and why).
  std::string out;
  StatWriter stat(out);
  const Store& store = const_cast<Endpoint&>(endpoint).store();
  const EndpointOptions& o = endpoint.options();
  const Server* server = endpoint.server();
  const ServerOptions* so = server != nullptr ? &server->options() : nullptr;
  auto yes_no = [](bool on) { return on ? "yes" : "no"; };
  std::uint64_t port = 0;
  std::uint64_t udp_port = 0;
  std::string socket_path = "NULL";
  std::string umask = "700";
  std::string inter;
  if (so != nullptr) {
    for (const ListenerOptions& l : so->listeners) {
      if (l.transport == Transport::tcp && port == 0) port = server->port(static_cast<std::size_t>(&l - so->listeners.data()));
      if (l.transport == Transport::udp && udp_port == 0) udp_port = server->port(static_cast<std::size_t>(&l - so->listeners.data()));
      if (l.transport == Transport::tcp) inter += (inter.empty() ? "" : ",") + l.host;
      if (l.transport == Transport::unix_stream) {
        socket_path = l.path;
        char mode[16];
        std::snprintf(mode, sizeof mode, "%o", l.unix_mode);
        umask = mode;
      }
    }
  }
  char factor[32];
  std::snprintf(factor, sizeof factor, "%.2f", store.options().growth_factor);
  const std::uint64_t threads = so != nullptr ? so->threads : 0;

  stat("maxbytes", store.memory_limit());
  if (so != nullptr) stat("maxconns", so->max_connections);
  if (so != nullptr) stat("tcpport", port);
  stat("udpport", udp_port);
  if (so != nullptr) stat.line("inter", inter.empty() ? "NULL" : inter);
  stat("verbosity", static_cast<std::uint64_t>(verbosity));
  stat.line("evictions", store.options().evictions ? "on" : "off");
  if (so != nullptr) {
    stat.line("domain_socket", socket_path);
    stat.line("umask", umask);
  }
  stat.line("shutdown_command", yes_no(static_cast<bool>(o.shutdown)));
  stat.line("growth_factor", factor);
  stat("chunk_size", store.options().slab_chunk_min);
  if (so != nullptr) {
    stat("num_threads", threads);
    stat("num_threads_per_udp", threads);
  }
  stat.line("stat_key_prefix", std::string(1, o.prefix_delimiter));
  stat.line("detail_enabled", yes_no(endpoint.prefix_stats().enabled()));
  if (so != nullptr) stat("reqs_per_event", so->reqs_per_event);
  stat.line("cas_enabled", yes_no(o.cas_enabled));
  if (so != nullptr) {
    stat("tcp_backlog", so->listeners.empty() ? 0 : static_cast<std::uint64_t>(so->listeners.front().backlog));
  }
  stat.line("binding_protocol", protocol_text(o.protocol));
  stat.line("auth_enabled_sasl", o.sasl ? "yes" : "no");
  stat.line("auth_enabled_ascii", o.auth_file.empty() ? "no" : o.auth_file);
  stat("item_size_max", store.options().item_size_max);
  stat.line("maxconns_fast", "yes");      // over the limit: "ERROR Too many open connections", closed
  stat.line("slab_reassign", "no");       // chunks are not carved from pages, so none move
  stat("slab_automove", 0);
  stat("slab_chunk_max", SlabAllocator::largest_chunk(store.options().item_size_max));
  stat.line("lru_crawler", yes_no(store.reclaim_enabled()));  // the paced sweep of expired items
  stat.line("flush_enabled", yes_no(o.flush_enabled));
  stat.line("dump_enabled", yes_no(o.dump_enabled));
  stat.line("lru_maintainer_thread", "no");
  stat.line("lru_segmented", "no");        // one LRU per shard: no HOT/WARM/COLD segments
  stat.line("temp_lru", "no");
  if (so != nullptr) stat("idle_timeout", static_cast<std::uint64_t>(so->idle_timeout.count() / 1000));
  stat.line("track_sizes", "no");          // `stats sizes` is disabled
  stat.line("ssl_enabled", "no");
  // Not memcached's: the bound on values still arriving (EndpointOptions::max_staged_bytes).
  stat("max_staged_bytes", endpoint.staging_stats().max_staged_bytes);
  return out;
}

}  // namespace connkit::cache::detail
