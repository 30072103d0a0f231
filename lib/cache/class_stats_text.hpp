#pragma once

// memcached's per-size-class stats groups and the item dump operators' tools read:
// `stats slabs`, `stats items`, `stats sizes` and `lru_crawler metadump`, with memcached
// 1.6.18's field names in its order (slabs.c do_slabs_stats, items.c do_item_stats,
// crawler.c's metadump line).

#include <string>
#include <string_view>

#include <connkit/cache/endpoint.hpp>

namespace connkit::cache::detail {

/// `stats slabs` without the END line: per class holding memory, then active_slabs and
/// total_malloced.
std::string slabs_stats(const Endpoint& endpoint);
/// `stats items` without the END line: per class holding items.
std::string items_stats(const Endpoint& endpoint);
/// `stats sizes` without the END line: the size histogram is not kept (memcached without
/// -o track_sizes answers the same).
std::string sizes_stats();

/// What `lru_crawler metadump <which>` and `lru_crawler crawl <which>` name: every class
/// ("all"; metadump also takes "hash"), or a comma-separated list of class ids.
struct ClassSelection {
  bool valid = false;  ///< false: memcached's BADCLASS
  bool all = false;
  bool ids[64] = {};   ///< by class id
};
ClassSelection select_classes(std::string_view which, std::size_t classes, bool allow_hash) noexcept;

/// `stats cachedump <id> <limit>` (memcached's item_cachedump): "ITEM <key> [<bytes> b;
/// <exptime> s]" per item of class `id`, most recently used first in each shard, at most
/// `limit` (0: all) and 2 MB, then "END\r\n"; or memcached's error for a bad request.
/// `arguments` is what follows "stats cachedump".
std::string cachedump(const Store& store, std::string_view arguments, bool dump_enabled);

/// `lru_crawler metadump`: a "key=... exp=... la=... cas=... fetch=... cls=... size=...\n"
/// line per linked item of the selected classes, then "END\r\n".
std::string metadump(const Store& store, const ClassSelection& which);

}  // namespace connkit::cache::detail
