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
  std::uint64_t bytes_read = 0;                  ///< bytes received ("bytes_read")
  std::uint64_t bytes_written = 0;               ///< bytes sent ("bytes_written")
  std::uint64_t read_buf_count = 0;              ///< read buffers lent to connections now ("read_buf_count")
  std::uint64_t read_buf_bytes = 0;              ///< bytes of read buffers allocated, lent or cached ("read_buf_bytes")
  std::uint64_t read_buf_bytes_free = 0;         ///< bytes of read buffers cached for reuse ("read_buf_bytes_free")
  std::uint64_t read_buf_oom = 0;                ///< read buffers that could not be allocated ("read_buf_oom")

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

/// Calls `f(wire_name, value)` for each counter, in memcached's `stats` order.
template <class F>
void for_each_stat(const ConnectionStats& s, F&& f) {
  f(std::string_view("curr_connections"), s.curr_conns);
  f(std::string_view("total_connections"), s.total_conns);
  f(std::string_view("rejected_connections"), s.rejected_conns);
  f(std::string_view("connection_structures"), s.conn_structs);
  f(std::string_view("conn_yields"), s.conn_yields);
  f(std::string_view("idle_kicks"), s.idle_kicks);
  f(std::string_view("listen_disabled_num"), s.listen_disabled_num);
  f(std::string_view("time_in_listen_disabled_us"), s.time_in_listen_disabled_us);
  f(std::string_view("malloc_fails"), s.malloc_fails);
  f(std::string_view("bytes_read"), s.bytes_read);
  f(std::string_view("bytes_written"), s.bytes_written);
  f(std::string_view("read_buf_count"), s.read_buf_count);
  f(std::string_view("read_buf_bytes"), s.read_buf_bytes);
  f(std::string_view("read_buf_bytes_free"), s.read_buf_bytes_free);
  f(std::string_view("read_buf_oom"), s.read_buf_oom);
}

/// memcached-style text: one "STAT <name> <value>\r\n" line per counter, totals only.
std::string to_stats_text(const ServerStats& s);

}  // namespace connkit
