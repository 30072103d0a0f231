#pragma once

#include <connkit/cache/endpoint.hpp>

#include "counters.hpp"  // lib/: the core's single-writer Counter

namespace connkit::cache::detail {

/// One worker's command counters: written by that worker only, read by `stats` from any
/// thread; `counters[&CommandStats::cmd_get].add()` resolves the field when compiled.
/// Cache-line aligned so workers' counters never share a line.
struct alignas(64) CommandCounters : connkit::detail::CounterSet<CommandStats, command_stat_fields> {};

}  // namespace connkit::cache::detail
