#include <connkit/stats.hpp>

#include <cstdio>

#include "counters.hpp"

namespace connkit {

ConnectionStats& ConnectionStats::operator+=(const ConnectionStats& o) noexcept {
  curr_conns += o.curr_conns;
  total_conns += o.total_conns;
  conn_structs += o.conn_structs;
  rejected_conns += o.rejected_conns;
  conn_yields += o.conn_yields;
  idle_kicks += o.idle_kicks;
  listen_disabled_num += o.listen_disabled_num;
  time_in_listen_disabled_us += o.time_in_listen_disabled_us;
  malloc_fails += o.malloc_fails;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  read_buf_count += o.read_buf_count;
  read_buf_bytes += o.read_buf_bytes;
  read_buf_bytes_free += o.read_buf_bytes_free;
  read_buf_oom += o.read_buf_oom;
  return *this;
}

std::string to_stats_text(const ServerStats& s) {
  std::string out;
  char line[96];
  auto add = [&](std::string_view name, std::uint64_t value) {
    const int n = std::snprintf(line, sizeof line, "STAT %.*s %llu\r\n", static_cast<int>(name.size()),
                                name.data(), static_cast<unsigned long long>(value));
    out.append(line, static_cast<std::size_t>(n));
  };
  add("max_connections", s.max_connections);
  for_each_stat(s.total, add);
  add("accepting_conns", s.accepting_conns ? 1 : 0);
  add("threads", s.threads);
  return out;
}

namespace detail {

ConnectionStats Counters::snapshot() const noexcept {
  ConnectionStats s;
  s.curr_conns = curr_conns.get();
  s.total_conns = total_conns.get();
  s.conn_structs = conn_structs.get();
  s.rejected_conns = rejected_conns.get();
  s.conn_yields = conn_yields.get();
  s.idle_kicks = idle_kicks.get();
  s.listen_disabled_num = listen_disabled_num.get();
  s.time_in_listen_disabled_us = time_in_listen_disabled_us.get();
  s.malloc_fails = malloc_fails.get();
  s.bytes_read = bytes_read.get();
  s.bytes_written = bytes_written.get();
  s.read_buf_count = read_buf_count.get();
  s.read_buf_bytes = read_buf_bytes.get();
  s.read_buf_bytes_free = read_buf_bytes_free.get();
  s.read_buf_oom = read_buf_oom.get();
  return s;
}

}  // namespace detail
}  // namespace connkit
