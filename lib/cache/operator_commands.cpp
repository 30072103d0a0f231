// memcached's operator commands that change the running store (proto_text.c):
// `cache_memlimit` and `lru_crawler`.

#include <algorithm>
#include <cstdio>

#include "class_stats_text.hpp"
#include "numbers.hpp"
#include "text_protocol.hpp"

namespace connkit::cache::detail {
namespace {

constexpr std::uint64_t megabyte = 1024 * 1024;

std::string_view first_word(std::string_view text) { return text.substr(0, std::min(text.find(' '), text.size())); }

}  // namespace

Action TextHandler::run_cache_memlimit(Connection& conn, Executor& exec, Request& r) {
  // process_memlimit_command: megabytes, at least 8 and at most a billion. A lower limit
  // than the memory held frees memory lazily: later allocations give free chunks back and
  // evict until they fit, as memcached's slab mover does in its own time.
  const std::uint32_t megabytes = r.level;
  if (megabytes < 8) {
    out_string(conn, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
  } else if (megabytes > 1000000000) {
    out_string(conn, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
  } else {
    exec.store().set_memory_limit(static_cast<std::size_t>(megabytes * megabyte));
    if (conn.verbosity() > 0) {
      char message[64];
      std::snprintf(message, sizeof message, "maxbytes adjusted to %um", megabytes);
      conn.log(1, message);
    }
    out_string(conn, "OK");
  }
  return Action::consumed(r.size);
}

Action TextHandler::run_lru_crawler(Connection& conn, Executor& exec, Request& r) {
  // The store's paced sweep of expired items (Store::maybe_reclaim) stands in for memcached's
  // crawler thread: enable / disable switch it, crawl runs a sweep of every shard now.
  Store& store = exec.store();
  const std::string_view sub = first_word(r.argument);
  std::string_view argument = r.argument.substr(sub.size());
  argument.remove_prefix(std::min(argument.find_first_not_of(' '), argument.size()));
  argument = first_word(argument);
  if (sub == "enable") {
    if (store.reclaim_enabled()) {
      out_string(conn, "ERROR failed to start lru crawler thread");  // memcached: already running
    } else {
      store.set_reclaim_enabled(true);
      out_string(conn, "OK");
    }
  } else if (sub == "disable") {
    store.set_reclaim_enabled(false);
    out_string(conn, "OK");
  } else if (sub == "sleep" || sub == "tocrawl") {
    // Pacing of memcached's crawler thread (microseconds between items, items per class):
    // checked as memcached checks them and accepted; the sweep here paces itself by shard.
    std::uint32_t value = 0;
    if (!safe_strtoul(argument, value)) {
      out_string(conn, "CLIENT_ERROR bad command line format");
    } else if (sub == "sleep" && value > 1000000) {
      out_string(conn, "CLIENT_ERROR sleep must be one second or less");
    } else {
      out_string(conn, "OK");
    }
  } else if (!store.reclaim_enabled()) {  // crawl, metadump
    out_string(conn, "CLIENT_ERROR lru crawler disabled");
  } else if (sub == "metadump" && !endpoint_.options().dump_enabled) {
    out_string(conn, "ERROR metadump not allowed");
  } else {
    const ClassSelection which = select_classes(argument, store.slab_classes(), sub == "metadump");
    if (!which.valid) {
      out_string(conn, "BADCLASS invalid class id");
    } else if (sub == "metadump") {
      conn.reply(metadump(store, which));
    } else {
      store.reclaim_expired();  // every class: the sweep walks shards, not classes
      out_string(conn, "OK");
    }
  }
  return Action::consumed(r.size);
}

}  // namespace connkit::cache::detail
