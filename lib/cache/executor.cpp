#include "executor.hpp"

#include "prefix_stats.hpp"

namespace connkit::cache::detail {

void Executor::count_class(const Item& item, ClassCommandCounters::Field field) {
  count_class_id(item.slab_class(), field);
}

void Executor::count_get(bool hit, Miss why) {
  stats_[&CommandStats::cmd_get].add();
  if (hit) {
    stats_[&CommandStats::get_hits].add();
    return;
  }
  stats_[&CommandStats::get_misses].add();
  if (why == Miss::expired) stats_[&CommandStats::get_expired].add();
  if (why == Miss::flushed) stats_[&CommandStats::get_flushed].add();
}

ItemRef Executor::get(std::string_view key, Miss* why) {
  Miss miss = Miss::none;
  ItemRef item = store().get(key, &miss);
  count_get(static_cast<bool>(item), miss);
  if (item) count_class(*item, &ClassCommandStats::get_hits);
  endpoint_.prefix_stats().record_get(key, static_cast<bool>(item));
  if (why != nullptr) *why = miss;
  return item;
}

ItemRef Executor::get_and_touch(std::string_view key, std::int64_t exptime) {
  ItemRef item = store().get_and_touch(key, exptime);
  endpoint_.prefix_stats().record_get(key, static_cast<bool>(item));
  stats_[&CommandStats::cmd_touch].add();
  (item ? stats_[&CommandStats::touch_hits] : stats_[&CommandStats::touch_misses]).add();
  if (item) count_class(*item, &ClassCommandStats::touch_hits);
  return item;
}

void Executor::refuse_store(std::string_view key, bool remove_old, bool too_large) {
  (too_large ? stats_[&CommandStats::store_too_large] : stats_[&CommandStats::store_no_memory]).add();
  // memcached unlinks the old value when a set's new one cannot be stored; meta ms does it
  // for every mode.
  if (remove_old) store().remove(key);
}

StoreResult Executor::store_item(const ItemRef& item, StoreMode mode, std::uint64_t cas, bool set_stale) {
  stats_[&CommandStats::cmd_set].add();
  count_class(*item, &ClassCommandStats::cmd_set);
  const StoreResult result = store().store(item, mode, cas, set_stale);
  if (mode == StoreMode::cas) {
    // By the new value's class: memcached counts the replaced value's (the same class
    // unless the cas changes the value's size class).
    if (result == StoreResult::stored) {
      stats_[&CommandStats::cas_hits].add();
      count_class(*item, &ClassCommandStats::cas_hits);
    }
    if (result == StoreResult::exists) {
      stats_[&CommandStats::cas_badval].add();
      count_class(*item, &ClassCommandStats::cas_badval);
    }
    if (result == StoreResult::not_found) stats_[&CommandStats::cas_misses].add();
  }
  return result;
}

void Executor::begin_store(const Request& request) {
  if (request.command != Command::meta_set) endpoint_.prefix_stats().record_set(request.key);
}

bool Executor::remove(std::string_view key) {
  endpoint_.prefix_stats().record_delete(key);
  unsigned cls = 0;
  const bool hit = store().meta_delete(key, {.slab_class = &cls}) == MetaDeleteResult::deleted;
  (hit ? stats_[&CommandStats::delete_hits] : stats_[&CommandStats::delete_misses]).add();
  if (hit) count_class_id(cls, &ClassCommandStats::delete_hits);
  return hit;
}

MetaDeleteResult Executor::binary_delete(std::string_view key, std::uint64_t cas) {
  endpoint_.prefix_stats().record_delete(key);
  unsigned cls = 0;
  MetaDeleteRequest request;
  request.has_cas = cas != 0;
  request.cas = cas;
  request.slab_class = &cls;
  const MetaDeleteResult result = store().meta_delete(key, request);
  if (result == MetaDeleteResult::deleted) {
    stats_[&CommandStats::delete_hits].add();
    count_class_id(cls, &ClassCommandStats::delete_hits);
  }
  if (result == MetaDeleteResult::not_found) stats_[&CommandStats::delete_misses].add();
  return result;
}

void Executor::refuse_binary_store(const Request& request) {
  // The parser keeps Command::set for a SET that carries a CAS (its mode is cas).
  if (request.command == Command::set) store().remove(request.key);
}

ArithOutcome Executor::arithmetic(const Request& request) {
  const bool increment = request.command == Command::incr;
  ArithRequest arith;
  arith.increment = increment;
  arith.delta = request.delta;
  arith.has_cas = request.cas != 0;
  arith.cas = request.cas;
  arith.vivify = request.create;
  arith.initial = request.initial;
  arith.vivify_exptime = request.exptime;
  return count_arithmetic(store().arithmetic(request.key, arith), increment);
}

bool Executor::touch(std::string_view key, std::int64_t exptime) {
  const ItemRef item = store().get_and_touch(key, exptime);
  stats_[&CommandStats::cmd_touch].add();
  (item ? stats_[&CommandStats::touch_hits] : stats_[&CommandStats::touch_misses]).add();
  if (item) count_class(*item, &ClassCommandStats::touch_hits);
  return static_cast<bool>(item);
}

bool Executor::flush_all(const Request& request) {
  stats_[&CommandStats::cmd_flush].add();
  if (!options().flush_enabled) return false;
  Store& s = store();
  std::int64_t delay = 0;
  if (request.exptime > 0) {
    const std::int64_t at = s.absolute_exptime(request.exptime);
    delay = at > 0 ? at - s.now() : 0;
  }
  s.flush_all(delay);
  return true;
}

namespace {

/// The t/T/N/R flags of a meta request, in order (memcached applies them where they stand).
std::string_view ttl_order(const MetaFlags& m, char (&out)[max_meta_ttl_flags]) noexcept {
  std::size_t n = 0;
  for (const std::string_view token : m.flags()) {
    const char c = token[0];
    if ((c == 't' || c == 'T' || c == 'N' || c == 'R') && n < max_meta_ttl_flags) out[n++] = c;
  }
  return {out, n};
}

}  // namespace

ItemRef Executor::meta_get(const Request& request, MetaGetResult& seen, Miss* why) {
  const MetaFlags& m = request.meta;
  MetaGetRequest get;
  char order[max_meta_ttl_flags];
  get.vivify = m.vivify;
  get.vivify_exptime = m.vivify_exptime;
  get.set_ttl = m.new_ttl;
  get.ttl = m.exptime;
  get.order = ttl_order(m, order);
  get.no_update = m.no_update;
  get.recache = m.recache;
  get.recache_ttl = m.recache_time;
  Miss miss = Miss::none;
  ItemRef item = store().meta_get(request.key, get, seen, &miss);
  if (item) count_meta_hit(request, *item);
  if (why != nullptr) *why = miss;
  return item;
}

void Executor::count_meta_hit(const Request& request, const Item& item) {
  if (request.meta.new_ttl) {
    stats_[&CommandStats::cmd_touch].add();
    stats_[&CommandStats::touch_hits].add();
    count_class(item, &ClassCommandStats::touch_hits);
  } else {
    count_get(true, Miss::none);
    count_class(item, &ClassCommandStats::get_hits);
  }
}

void Executor::count_meta_miss(const Request& request, Miss why) {
  if (request.meta.new_ttl) {
    stats_[&CommandStats::cmd_touch].add();
    stats_[&CommandStats::touch_misses].add();
  } else {
    count_get(false, why);
  }
}

MetaDeleteResult Executor::meta_delete(const Request& request) {
  const MetaFlags& m = request.meta;
  unsigned cls = 0;
  const MetaDeleteResult result = store().meta_delete(request.key, {.has_cas = m.has_cas,
                                                                   .cas = m.cas,
                                                                   .invalidate = m.set_stale,
                                                                   .set_ttl = m.new_ttl,
                                                                   .ttl = m.exptime,
                                                                   .slab_class = &cls});
  if (result != MetaDeleteResult::deleted) {
    stats_[&CommandStats::delete_misses].add();
  } else if (!m.set_stale) {
    stats_[&CommandStats::delete_hits].add();
    count_class_id(cls, &ClassCommandStats::delete_hits);
  }
  return result;
}

ArithOutcome Executor::meta_arithmetic(const Request& request, std::int64_t* ttl_at) {
  const MetaFlags& m = request.meta;
  const bool increment = !(m.mode == 'D' || m.mode == '-');
  ArithRequest arith;
  char order[max_meta_ttl_flags];
  arith.increment = increment;
  arith.delta = m.delta;
  arith.vivify = m.vivify;
  arith.vivify_exptime = m.vivify_exptime;
  arith.set_ttl = m.new_ttl;
  arith.ttl = m.exptime;
  arith.order = ttl_order(m, order);
  arith.has_cas = m.has_cas;
  arith.cas = m.cas;
  arith.initial = m.initial;
  arith.ttl_at = ttl_at;
  return count_arithmetic(store().arithmetic(request.key, arith), increment);
}

ArithOutcome Executor::count_arithmetic(ArithOutcome out, bool increment) {
  // A miss that created the value from its initial one (binary, meta N) counts neither, as
  // memcached.
  if (out.result == ArithResult::ok && !out.created) {
    (increment ? stats_[&CommandStats::incr_hits] : stats_[&CommandStats::decr_hits]).add();
    if (increment) {
      count_class(*out.item, &ClassCommandStats::incr_hits);
    } else {
      count_class(*out.item, &ClassCommandStats::decr_hits);
    }
  } else if (out.result == ArithResult::not_found) {
    (increment ? stats_[&CommandStats::incr_misses] : stats_[&CommandStats::decr_misses]).add();
  }
  return out;
}

}  // namespace connkit::cache::detail
