#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace connkit {

/// Connection-layer counters, named as memcached's C fields; printed with its wire names.
struct ConnectionStats {
  std::uint64_t curr_conns = 0;                  ///< open connections ("curr_connections")
  std::uint64_t total_conns = 0;                 ///< connections ever opened ("total_connections")
  std::uint64_t conn_structs = 0;                ///< Connection structs ever allocated ("connection_structures")
  std::uint64_t rejected_conns = 0;              ///< refused by max_connections ("rejected_connections")
  std::uint64_t conn_yields = 0;                 ///< fairness yields ("conn_yields")
  std::uint64_t idle_kicks = 0;                  ///< closed by idle_timeout ("idle_kicks")
  std::uint64_t listen_disabled_num = 0;         ///< accept pauses for lack of fds or memory ("listen_disabled_num")
  std::uint64_t time_in_listen_disabled_us = 0;  ///< time spent paused ("time_in_listen_disabled_us")
  std::uint64_t malloc_fails = 0;                ///< connections refused for lack of memory ("malloc_fails")
  std::uint64_t auth_cmds = 0;                   ///< authentication attempts, Connection::record_auth() ("auth_cmds")
  std::uint64_t auth_errors = 0;                 ///< failed ones ("auth_errors")
  std::uint64_t bytes_read = 0;                  ///< bytes received ("bytes_read")
  std::uint64_t bytes_written = 0;               ///< bytes sent ("bytes_written")
  std::uint64_t read_buf_count = 0;              ///< read buffers lent to connections now ("read_buf_count")
  std::uint64_t read_buf_bytes = 0;              ///< bytes of read buffers allocated, lent or cached ("read_buf_bytes")
  std::uint64_t read_buf_bytes_free = 0;         ///< bytes of read buffers cached for reuse ("read_buf_bytes_free")
  std::uint64_t read_buf_oom = 0;                ///< read buffers that could not be allocated ("read_buf_oom")
  std::uint64_t refused_conns = 0;               ///< turned away by Connection::refuse() ("refused_connections")
  std::uint64_t write_stall_kicks = 0;           ///< closed by write_stall_timeout ("write_stall_kicks")
  std::uint64_t deferred_replies = 0;            ///< DeferredReply handles taken ("deferred_replies")
  std::uint64_t deferred_cancelled = 0;          ///< handles cancelled by their connection's close ("deferred_cancelled")
  // Closes by reason (the connection's close reason, as in the verbose close line).
  std::uint64_t closed_peer = 0;                 ///< the peer closed ("conns_closed_peer")
  std::uint64_t closed_error = 0;                ///< a socket error or no memory ("conns_closed_error")
  std::uint64_t closed_protocol = 0;             ///< the handler closed it, or bad input ("conns_closed_protocol")
  std::uint64_t closed_idle = 0;                 ///< idle or linger timeout ("conns_closed_idle")
  std::uint64_t closed_stopping = 0;             ///< a graceful stop or its deadline ("conns_closed_stopping")
  std::uint64_t closed_by_server = 0;            ///< Server::close_connection() or refused ("conns_closed_by_server")
  std::uint64_t closed_write_stall = 0;          ///< write_stall_timeout ("conns_closed_write_stall")

  /// Adds every counter of `other` to this one.
  ConnectionStats& operator+=(const ConnectionStats& other) noexcept;
};

/// A consistent-enough snapshot of a Server: totals, each worker, and the acceptors.
struct ServerStats {
  ConnectionStats total;                 ///< sum over workers and acceptors
  std::vector<ConnectionStats> workers;  ///< one entry per worker thread
  std::uint64_t max_connections = 0;     ///< the configured limit ("max_connections")
  bool accepting_conns = true;           ///< false while accept is paused ("accepting_conns")
  std::uint64_t threads = 0;             ///< worker threads ("threads")
};

/// A connection counter's wire name and field.
struct ConnectionStatField {
  const char* name;                       ///< memcached's wire name
  std::uint64_t ConnectionStats::*field;  ///< where it lives in ConnectionStats
  bool reset;                             ///< `stats reset` counts it from zero again
  bool memcached = true;                  ///< memcached prints it in `stats` (false: connkit's own)
};

/// Every connection counter, memcached's in its `stats` order, then connkit's own. The one
/// list of them: the workers' counters, sums, snapshots and every `stats` text are made
/// from it. A memcached-compatible `stats` prints only the `memcached` ones (memcached's
/// own tests count the lines).
inline constexpr ConnectionStatField connection_stat_fields[] = {
    {"curr_connections", &ConnectionStats::curr_conns, false},
    {"total_connections", &ConnectionStats::total_conns, true},
    {"rejected_connections", &ConnectionStats::rejected_conns, true},
    {"connection_structures", &ConnectionStats::conn_structs, false},
    {"read_buf_oom", &ConnectionStats::read_buf_oom, false},
    {"auth_cmds", &ConnectionStats::auth_cmds, true},
    {"auth_errors", &ConnectionStats::auth_errors, true},
    {"bytes_read", &ConnectionStats::bytes_read, true},
    {"bytes_written", &ConnectionStats::bytes_written, true},
    {"listen_disabled_num", &ConnectionStats::listen_disabled_num, true},
    {"time_in_listen_disabled_us", &ConnectionStats::time_in_listen_disabled_us, false},
    {"conn_yields", &ConnectionStats::conn_yields, true},
    {"idle_kicks", &ConnectionStats::idle_kicks, false},
    {"malloc_fails", &ConnectionStats::malloc_fails, true},
    {"read_buf_count", &ConnectionStats::read_buf_count, false},
    {"read_buf_bytes", &ConnectionStats::read_buf_bytes, false},
    {"read_buf_bytes_free", &ConnectionStats::read_buf_bytes_free, false},
    // connkit's own, after memcached's
    {"refused_connections", &ConnectionStats::refused_conns, true, false},
    {"write_stall_kicks", &ConnectionStats::write_stall_kicks, true, false},
    {"deferred_replies", &ConnectionStats::deferred_replies, true, false},
    {"deferred_cancelled", &ConnectionStats::deferred_cancelled, true, false},
    {"conns_closed_peer", &ConnectionStats::closed_peer, true, false},
    {"conns_closed_error", &ConnectionStats::closed_error, true, false},
    {"conns_closed_protocol", &ConnectionStats::closed_protocol, true, false},
    {"conns_closed_idle", &ConnectionStats::closed_idle, true, false},
    {"conns_closed_stopping", &ConnectionStats::closed_stopping, true, false},
    {"conns_closed_by_server", &ConnectionStats::closed_by_server, true, false},
    {"conns_closed_write_stall", &ConnectionStats::closed_write_stall, true, false},
};

/// Calls `f(wire_name, value)` for each counter, in memcached's `stats` order.
template <class F>
void for_each_stat(const ConnectionStats& s, F&& f) {
  for (const ConnectionStatField& c : connection_stat_fields) f(std::string_view(c.name), s.*(c.field));
}

/// memcached-style text: one "STAT <name> <value>\r\n" line per counter, totals only.
std::string to_stats_text(const ServerStats& s);

}  // namespace connkit
