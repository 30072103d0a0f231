#include "class_stats_text.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "command_counters.hpp"
#include "slabs.hpp"
#include "numbers.hpp"

namespace connkit::cache::detail {
namespace {

/// Appends "STAT <prefix><name> <value>\r\n".
void stat(std::string& out, std::string_view prefix, std::string_view name, std::uint64_t value) {
  char line[128];  // prefixes and names are short and ours ("items:63:", "crawler_items_checked")
  const int n = std::snprintf(line, sizeof line, "STAT %.*s%.*s %llu\r\n", static_cast<int>(prefix.size()),
                              prefix.data(), static_cast<int>(name.size()), name.data(),
                              static_cast<unsigned long long>(value));
  out.append(line, static_cast<std::size_t>(std::min(n, static_cast<int>(sizeof line) - 1)));
}

/// The per-class command counters by class id, items above the largest class folded into it.
std::vector<ClassCommandStats> class_commands(const Endpoint& endpoint, std::size_t classes) {
  std::vector<ClassCommandStats> by_id = endpoint.class_command_stats();
  for (const ClassCommandStatField& f : class_command_stat_fields) {
    by_id[classes].*(f.field) += std::exchange(by_id[0].*(f.field), 0);
  }
  return by_id;
}

const Store& store_of(const Endpoint& endpoint) { return const_cast<Endpoint&>(endpoint).store(); }

// memcached's uriencode(): bytes other than A-Z a-z 0-9 - . _ ~ become %XX.
void append_uri_encoded(std::string& out, std::string_view key) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char c : key) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' || b == '.' ||
        b == '_' || b == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
}

}  // namespace

std::string slabs_stats(const Endpoint& endpoint) {
  const std::vector<SlabClassStats> classes = store_of(endpoint).class_stats();
  const std::vector<ClassCommandStats> commands = class_commands(endpoint, classes.size());
  std::string out;
  std::uint64_t active = 0;
  for (const SlabClassStats& c : classes) {
    if (c.total_chunks == 0) continue;  // memcached lists classes that hold a page
    ++active;
    const std::string prefix = std::to_string(c.id) + ":";
    stat(out, prefix, "chunk_size", c.chunk_size);
    stat(out, prefix, "chunks_per_page", c.chunks_per_page);
    // Chunks are allocated one by one here: pages are the memcached pages they would fill.
    stat(out, prefix, "total_pages", (c.total_chunks + c.chunks_per_page - 1) / c.chunks_per_page);
    stat(out, prefix, "total_chunks", c.total_chunks);
    stat(out, prefix, "used_chunks", c.used_chunks);
    stat(out, prefix, "free_chunks", c.free_chunks);
    stat(out, prefix, "free_chunks_end", 0);  // dead in memcached too, printed as 0
    for (const ClassCommandStatField& f : class_command_stat_fields) stat(out, prefix, f.name, commands[c.id].*(f.field));
  }
  stat(out, "", "active_slabs", active);
  stat(out, "", "total_malloced", store_of(endpoint).stats().total_malloced);
  return out;
}

std::string items_stats(const Endpoint& endpoint) {
  const std::vector<SlabClassStats> classes = store_of(endpoint).class_stats();
  const std::vector<ClassCommandStats> commands = class_commands(endpoint, classes.size());
  std::string out;
  for (const SlabClassStats& c : classes) {
    if (c.number == 0) continue;  // memcached lists classes holding items
    const std::string prefix = "items:" + std::to_string(c.id) + ":";
    // One LRU list per shard, for all classes: memcached's COLD LRU (the one it evicts
    // from). There is no HOT, WARM or TEMP segment, and nothing moves between segments.
    stat(out, prefix, "number", c.number);
    stat(out, prefix, "number_hot", 0);
    stat(out, prefix, "number_warm", 0);
    stat(out, prefix, "number_cold", c.number);
    stat(out, prefix, "age_hot", 0);
    stat(out, prefix, "age_warm", 0);
    stat(out, prefix, "age", c.age);
    stat(out, prefix, "mem_requested", c.mem_requested);
    stat(out, prefix, "evicted", c.evicted);
    stat(out, prefix, "evicted_nonzero", c.evicted_nonzero);
    stat(out, prefix, "evicted_time", c.evicted_time);
    stat(out, prefix, "outofmemory", c.outofmemory);
    stat(out, prefix, "tailrepairs", 0);  // no item is ever stuck referenced at the tail
    stat(out, prefix, "reclaimed", c.reclaimed);
    stat(out, prefix, "expired_unfetched", c.expired_unfetched);
    stat(out, prefix, "evicted_unfetched", c.evicted_unfetched);
    stat(out, prefix, "evicted_active", 0);  // no active bit: an evicted item is never given a second chance
    stat(out, prefix, "crawler_reclaimed", c.crawler_reclaimed);
    stat(out, prefix, "crawler_items_checked", c.crawler_items_checked);
    stat(out, prefix, "lrutail_reflocked", 0);  // a referenced tail item is evicted all the same
    stat(out, prefix, "moves_to_cold", 0);
    stat(out, prefix, "moves_to_warm", 0);
    stat(out, prefix, "moves_within_lru", 0);
    stat(out, prefix, "direct_reclaims", c.direct_reclaims);
    stat(out, prefix, "hits_to_hot", 0);
    stat(out, prefix, "hits_to_warm", 0);
    stat(out, prefix, "hits_to_cold", commands[c.id].get_hits + commands[c.id].touch_hits);
    stat(out, prefix, "hits_to_temp", 0);
  }
  return out;
}

std::string sizes_stats() { return "STAT sizes_status disabled\r\n"; }

ClassSelection select_classes(std::string_view which, std::size_t classes, bool allow_hash) noexcept {
  ClassSelection s;
  if (which == "all" || (allow_hash && which == "hash")) {
    s.valid = s.all = true;
    return s;
  }
  while (!which.empty()) {
    const std::size_t comma = std::min(which.find(','), which.size());
    std::uint32_t id = 0;
    if (!safe_strtoul(which.substr(0, comma), id) || id == 0 || id > classes || id >= std::size(s.ids)) return {};
    s.ids[id] = true;
    which.remove_prefix(std::min(comma + 1, which.size()));
  }
  s.valid = true;
  return s;
}

std::string cachedump(const Store& store, std::string_view arguments, bool dump_enabled) {
  if (!dump_enabled) return "CLIENT_ERROR stats cachedump not allowed\r\n";
  std::string_view words[2];
  std::size_t count = 0;
  for (std::string_view rest = arguments; !rest.empty() && count < 2;) {
    const std::size_t end = std::min(rest.find(' '), rest.size());
    if (end > 0) words[count++] = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  if (count < 2) return "CLIENT_ERROR bad command line\r\n";
  std::uint32_t id = 0, limit = 0;
  if (!safe_strtoul(words[0], id) || !safe_strtoul(words[1], limit)) return "CLIENT_ERROR bad command line format\r\n";
  if (id > SlabAllocator::max_classes) return "CLIENT_ERROR Illegal slab id\r\n";
  constexpr std::size_t max_dump = 2u << 20;  // memcached's buffer: the dump stops when full
  const std::size_t largest = store.slab_classes();
  std::string out;
  std::uint32_t shown = 0;
  bool full = false;
  store.for_each_item([&](const Item& item) {
    const unsigned cls = item.slab_class() == 0 ? static_cast<unsigned>(largest) : item.slab_class();
    if (full || cls != id || (limit != 0 && shown == limit)) return;
    char line[300];
    const int n = std::snprintf(line, sizeof line, "ITEM %.*s [%zu b; %" PRId64 " s]\r\n",
                                static_cast<int>(item.key().size()), item.key().data(), item.value().size(),
                                item.exptime());
    if (n <= 0 || out.size() + static_cast<std::size_t>(n) + 5 > max_dump) {
      full = true;
      return;
    }
    out.append(line, static_cast<std::size_t>(n));
    ++shown;
  });
  out += "END\r\n";
  return out;
}

std::string metadump(const Store& store, const ClassSelection& which) {
  const std::size_t largest = store.slab_classes();
  std::string out;
  store.for_each_item([&](const Item& item) {
    const unsigned cls = item.slab_class() == 0 ? static_cast<unsigned>(largest) : item.slab_class();
    if (!which.all && !which.ids[cls]) return;
    out += "key=";
    append_uri_encoded(out, item.key());
    char line[160];
    // exp and la are Unix times, as memcached prints them; exp -1: never expires.
    std::snprintf(line, sizeof line, " exp=%" PRId64 " la=%" PRId64 " cas=%" PRIu64 " fetch=%s cls=%u size=%zu\n",
                  item.exptime() == 0 ? std::int64_t{-1} : item.exptime(), item.last_access(), item.cas(),
                  item.fetched() ? "yes" : "no", cls, item.total_size());
    out += line;
  });
  out += "END\r\n";
  return out;
}

}  // namespace connkit::cache::detail
