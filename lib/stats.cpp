#include <connkit/stats.hpp>

#include <cstdio>

namespace connkit {

ConnectionStats& ConnectionStats::operator+=(const ConnectionStats& o) noexcept {
  for (const ConnectionStatField& c : connection_stat_fields) this->*(c.field) += o.*(c.field);
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

}  // namespace connkit
