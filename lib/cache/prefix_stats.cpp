#include "prefix_stats.hpp"

#include <cstdio>

namespace connkit::cache::detail {

void PrefixStats::record(std::string_view key, int gets, int sets, int deletes) {
  const std::size_t end = key.find(delimiter_);
  if (end == std::string_view::npos) return;  // no prefix: not counted, as memcached
  const std::string_view prefix = key.substr(0, end);
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = index_.find(prefix);
  if (found == index_.end()) {
    if (prefixes_.size() == max_prefixes) return;
    // Strings are reserved up front so the views in index_ never move: the vector holds at
    // most max_prefixes entries and its capacity is taken once.
    if (prefixes_.capacity() < max_prefixes) prefixes_.reserve(max_prefixes);
    prefixes_.emplace_back(std::string(prefix), Counts{});
    found = index_.emplace(std::string_view(prefixes_.back().first), prefixes_.size() - 1).first;
  }
  Counts& c = prefixes_[found->second].second;
  if (gets > 0) ++c.get;
  if (gets > 1) ++c.hit;
  c.set += static_cast<std::uint64_t>(sets);
  c.del += static_cast<std::uint64_t>(deletes);
}

std::string PrefixStats::dump() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  char line[96];
  for (const auto& [prefix, c] : prefixes_) {
    out += "PREFIX ";
    out += prefix;
    std::snprintf(line, sizeof line, " get %llu hit %llu set %llu del %llu\r\n", static_cast<unsigned long long>(c.get),
                  static_cast<unsigned long long>(c.hit), static_cast<unsigned long long>(c.set),
                  static_cast<unsigned long long>(c.del));
    out += line;
  }
  out += "END\r\n";
  return out;
}

void PrefixStats::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  index_.clear();
  prefixes_.clear();
}

}  // namespace connkit::cache::detail
