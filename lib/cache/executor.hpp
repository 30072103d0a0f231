#pragma once

#include <cstdint>
#include <string_view>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>

#include "command_counters.hpp"
#include "request.hpp"

namespace connkit::cache::detail {

/// Runs requests against the Store for every protocol, and counts them in memcached's
/// thread stats: the one place that knows which command bumps which counter. A protocol
/// handler makes one per request (it is two references) and composes the reply from what
/// each call returns.
class Executor {
 public:
  Executor(Endpoint& endpoint, CommandCounters& counters) noexcept : endpoint_(endpoint), stats_(counters) {}

  Store& store() const noexcept { return endpoint_.store(); }
  const EndpointOptions& options() const noexcept { return endpoint_.options(); }

  /// One key of a get (get, gets, bget, binary GET*): the live item or null (`why` says which miss).
  ItemRef get(std::string_view key, Miss* why = nullptr);
  /// One key of a gat (gat, gats, binary GAT*): counted as a touch, as memcached does.
  ItemRef get_and_touch(std::string_view key, std::int64_t exptime);

  /// A storage command's header arrived (before its value is taken): counted in the
  /// per-prefix stats, whatever becomes of it (memcached counts it there; meta ms is not).
  void begin_store(const Request& request);
  /// A storage command's value could not be taken (too large or no memory): counted, and for a
  /// set the key's old value is removed (a failed set must not leave it behind, as memcached).
  void refuse_store(const Request& request, bool too_large) {
    refuse_store(request.key, request.mode == StoreMode::set || request.command == Command::meta_set, too_large);
  }
  /// The same once the request is gone: `remove_old` for a set or meta set.
  void refuse_store(std::string_view key, bool remove_old, bool too_large);
  /// A storage command's value arrived: links `item` as request.mode says. Counts cmd_set and
  /// the cas_* counters.
  StoreResult store_item(const Request& request, const ItemRef& item) {
    return store_item(item, request.mode, request.cas, request.set_stale);
  }
  /// The same, from what a handler kept of the request while its value arrived.
  StoreResult store_item(const ItemRef& item, StoreMode mode, std::uint64_t cas, bool set_stale);

  /// delete: true if the key was there. Counts delete_hits / delete_misses.
  bool remove(std::string_view key);
  /// Binary DELETE: with a non-zero `cas`, only if it matches the item's (memcached's
  /// process_bin_delete). Counts delete_hits / delete_misses; a mismatch counts neither.
  MetaDeleteResult binary_delete(std::string_view key, std::uint64_t cas);
  /// A binary SET/ADD/REPLACE/APPEND/PREPEND value could not be taken (too large or no
  /// memory): a SET's old value is removed, CAS or not, and nothing is counted (unlike its
  /// text path, memcached's process_bin_update counts neither store_too_large nor
  /// store_no_memory).
  void refuse_binary_store(const Request& request);
  /// incr / decr (text; binary with its initial value and expiry). Counts incr_* / decr_*.
  ArithOutcome arithmetic(const Request& request);
  /// touch: true if the key was there. Counts cmd_touch, touch_hits / touch_misses.
  bool touch(std::string_view key, std::int64_t exptime);
  /// flush_all (text, binary): false when flush is disabled (-F). Counts cmd_flush either way.
  bool flush_all(const Request& request);

  /// mg: the item (null on a miss, `why` says which) with what the request's flags did.
  /// Counts a hit here; a miss is counted by count_meta_miss(), since a read-through miss is
  /// counted once though it is answered later.
  ItemRef meta_get(const Request& request, MetaGetResult& seen, Miss* why);
  void count_meta_hit(const Request& request, const Item& item);
  void count_meta_miss(const Request& request, Miss why);
  /// md. Counts delete_hits / delete_misses (an invalidation is not a delete hit).
  MetaDeleteResult meta_delete(const Request& request);
  /// ma, with its t flags' expiries written to `ttl_at` (max_meta_ttl_flags entries).
  ArithOutcome meta_arithmetic(const Request& request, std::int64_t* ttl_at);

  /// The worker's counters (for what a protocol counts itself: none today).
  CommandCounters& counters() noexcept { return stats_; }

 private:
  void count_get(bool hit, Miss why);
  /// A hit in the size class of `item` (or of id `cls`): memcached's per-class slab_stats.
  void count_class(const Item& item, ClassCommandCounters::Field field);
  void count_class_id(unsigned cls, ClassCommandCounters::Field field) {
    if (ClassCommandCounters* c = stats_.of_class(cls)) (*c)[field].add();
  }
  ArithOutcome count_arithmetic(ArithOutcome out, bool increment);

  Endpoint& endpoint_;
  CommandCounters& stats_;
};

}  // namespace connkit::cache::detail
