#include <connkit/cache/endpoint.hpp>

#include <memory>

#include "command_counters.hpp"
#include "text_protocol.hpp"

namespace connkit::cache {

Endpoint::Endpoint(Store& store, EndpointOptions options)
    : store_(store),
      options_(std::move(options)),
      started_(store.now()),
      verbosity_(options_.verbosity),
      counters_(std::make_unique<detail::CommandCounters[]>(max_endpoint_workers)),
      baseline_(std::make_unique<CommandStats>()) {}

Endpoint::~Endpoint() = default;

HandlerFactory Endpoint::handler_factory() {
  return [this] { return std::make_unique<detail::TextHandler>(*this); };
}

detail::CommandCounters& Endpoint::counters(unsigned worker) {
  return counters_[std::min(worker, max_endpoint_workers - 1)];
}

CommandStats Endpoint::command_stats() const {
  CommandStats total;
  for (unsigned i = 0; i < max_endpoint_workers; ++i) counters_[i].add_to(total);
  while (baseline_lock_.test_and_set(std::memory_order_acquire)) {
  }
  const CommandStats base = *baseline_;
  baseline_lock_.clear(std::memory_order_release);
  for (const CommandStatField& c : command_stat_fields) {
    std::uint64_t& v = total.*(c.field);
    v = v >= base.*(c.field) ? v - base.*(c.field) : 0;
  }
  return total;
}

void Endpoint::reset_command_stats() {
  CommandStats now;
  for (unsigned i = 0; i < max_endpoint_workers; ++i) counters_[i].add_to(now);
  while (baseline_lock_.test_and_set(std::memory_order_acquire)) {
  }
  *baseline_ = now;
  baseline_lock_.clear(std::memory_order_release);
}

}  // namespace connkit::cache
