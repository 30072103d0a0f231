#pragma once

#include <atomic>
#include <cstdint>
#include <new>

#include <connkit/cache/endpoint.hpp>

#include "counters.hpp"  // lib/: the core's single-writer Counter
#include "slabs.hpp"

namespace connkit::cache::detail {

/// Command counters of one size class (memcached's slab_stats, `stats slabs` per class).
struct ClassCommandStats {
  std::uint64_t get_hits = 0, cmd_set = 0, delete_hits = 0, incr_hits = 0, decr_hits = 0;
  std::uint64_t cas_hits = 0, cas_badval = 0, touch_hits = 0;
};

/// A per-class counter's wire name and field.
struct ClassCommandStatField {
  const char* name;
  std::uint64_t ClassCommandStats::*field;
};

/// Every per-class command counter, in memcached 1.6.18's `stats slabs` order.
inline constexpr ClassCommandStatField class_command_stat_fields[] = {
    {"get_hits", &ClassCommandStats::get_hits},     {"cmd_set", &ClassCommandStats::cmd_set},
    {"delete_hits", &ClassCommandStats::delete_hits}, {"incr_hits", &ClassCommandStats::incr_hits},
    {"decr_hits", &ClassCommandStats::decr_hits},   {"cas_hits", &ClassCommandStats::cas_hits},
    {"cas_badval", &ClassCommandStats::cas_badval}, {"touch_hits", &ClassCommandStats::touch_hits},
};

using ClassCommandCounters = connkit::detail::CounterSet<ClassCommandStats, class_command_stat_fields>;

/// Per-class counters by class id (0: items above the largest class).
inline constexpr std::size_t class_counter_slots = SlabAllocator::max_classes + 1;

/// One worker's command counters: written by that worker only, read by `stats` from any
/// thread; `counters[&CommandStats::cmd_get].add()` resolves the field when compiled.
/// Cache-line aligned so workers' counters never share a line. The per-class counters
/// (4 KB) are made on the worker's first count of a hit, so endpoints sized for 256
/// workers hold them only for the workers that serve.
struct alignas(64) CommandCounters : connkit::detail::CounterSet<CommandStats, command_stat_fields> {
  CommandCounters() = default;
  CommandCounters(const CommandCounters&) = delete;
  CommandCounters& operator=(const CommandCounters&) = delete;
  ~CommandCounters() { delete[] classes_.load(std::memory_order_acquire); }

  /// The counters of class `cls` (an item's slab_class()), for the writing worker. Null only
  /// if their first allocation failed (the count is then lost).
  ClassCommandCounters* of_class(unsigned cls) noexcept {
    ClassCommandCounters* table = classes_.load(std::memory_order_acquire);
    if (table == nullptr) {
      // Workers past max_endpoint_workers share a slot: whoever loses the race frees its table.
      auto* made = new (std::nothrow) ClassCommandCounters[class_counter_slots];
      if (made == nullptr) return nullptr;
      if (classes_.compare_exchange_strong(table, made, std::memory_order_acq_rel)) {
        table = made;
      } else {
        delete[] made;
      }
    }
    return &table[cls < class_counter_slots ? cls : 0];
  }
  /// Adds class `cls`'s counters into `out` (nothing if the worker never counted one).
  void add_class_to(unsigned cls, ClassCommandStats& out) const noexcept {
    if (const ClassCommandCounters* table = classes_.load(std::memory_order_acquire)) table[cls].add_to(out);
  }

 private:
  std::atomic<ClassCommandCounters*> classes_{nullptr};
};

}  // namespace connkit::cache::detail
