#include <connkit/cache/endpoint.hpp>

#include <algorithm>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "auth.hpp"
#include "binary_protocol.hpp"
#include "command_counters.hpp"
#include "prefix_stats.hpp"
#include "incoming_value.hpp"
#include "read_through.hpp"
#include "text_protocol.hpp"
#include "udp_protocol.hpp"

namespace connkit::cache {

namespace {

/// v -= base, never below zero (a counter read just before a reset can lag its baseline).
void subtract(std::uint64_t& v, std::uint64_t base) noexcept { v = v >= base ? v - base : 0; }

}  // namespace

/// The totals `stats reset` saw, subtracted from later reads. Only `stats` requests take
/// the lock, never a data command.
struct Endpoint::Baseline {
  std::mutex mutex;
  CommandStats commands;
  ConnectionStats connections;
  StoreStats items;
  std::vector<detail::ClassCommandStats> classes = std::vector<detail::ClassCommandStats>(detail::class_counter_slots);

  /// A copy of `baseline` (one of the three above), taken under the lock.
  template <class T>
  T copy(const T& baseline) {
    std::lock_guard<std::mutex> lock(mutex);
    return baseline;
  }
};

Endpoint::Endpoint(Store& store, EndpointOptions options)
    : store_(store),
      options_(std::move(options)),
      started_(store.now()),
      counters_(std::make_unique<detail::CommandCounters[]>(max_endpoint_workers)),
      baseline_(std::make_unique<Baseline>()),
      loads_(options_.loader ? std::make_unique<detail::LoadTable>(store, options_) : nullptr),
      prefixes_(std::make_unique<detail::PrefixStats>(options_.prefix_delimiter)),
      staging_(std::make_unique<detail::ValueStaging>(
          std::max(options_.max_staged_bytes, store.options().item_size_max))),
      auth_(std::make_unique<detail::AuthFile>()) {
  prefixes_->enable(options_.detail_enabled);
  // memcached: -Y makes the server ascii-only, -S binary-only (-Y wins when both are given);
  // `stats settings` binding_protocol says so.
  if (!options_.auth_file.empty()) {
    options_.protocol = ProtocolChoice::ascii;
  } else if (options_.sasl) {
    options_.protocol = ProtocolChoice::binary;
  }
}

Endpoint::~Endpoint() = default;

HandlerFactory Endpoint::handler_factory() {
  return [this] { return std::make_unique<detail::TextHandler>(*this, loads_.get()); };
}

HandlerFactory Endpoint::binary_handler_factory() {
  return [this] { return std::make_unique<detail::BinaryHandler>(*this, loads_.get()); };
}

void Endpoint::configure(ListenerOptions& listener, ProtocolChoice protocol) {
  if (options_.sasl || !options_.auth_file.empty()) {
    protocol = options_.protocol;  // pinned by the constructor
    listener.require_auth = true;
  }
  listener.handler = protocol == ProtocolChoice::binary ? HandlerFactory() : handler_factory();
  listener.binary_handler = protocol == ProtocolChoice::ascii ? HandlerFactory() : binary_handler_factory();
  listener.name = std::string(protocol_text(protocol));
  // UDP: memcached's 8-byte frame header; with both factories each datagram negotiates.
  if (listener.transport == Transport::udp) listener.framing = detail::memcached_udp_framing();
}

std::string Endpoint::load_auth_file() { return auth_->load(options_.auth_file); }

detail::CommandCounters& Endpoint::counters(unsigned worker) {
  return counters_[std::min(worker, max_endpoint_workers - 1)];
}

CommandStats Endpoint::command_stats() const {
  CommandStats total;
  for (unsigned i = 0; i < max_endpoint_workers; ++i) counters_[i].add_to(total);
  const CommandStats base = baseline_->copy(baseline_->commands);
  for (const CommandStatField& c : command_stat_fields) subtract(total.*(c.field), base.*(c.field));
  return total;
}

void Endpoint::reset_stats() {
  CommandStats now;
  for (unsigned i = 0; i < max_endpoint_workers; ++i) counters_[i].add_to(now);
  const ConnectionStats conns = server_ != nullptr ? server_->stats().total : ConnectionStats{};
  const StoreStats items = store_.stats();
  std::vector<detail::ClassCommandStats> classes = class_totals();
  if (loads_) loads_->reset_stats();
  prefixes_->clear();
  store_.reset_class_stats();
  std::lock_guard<std::mutex> lock(baseline_->mutex);
  baseline_->classes = std::move(classes);
  baseline_->commands = now;
  baseline_->connections = conns;
  baseline_->items = items;
}

std::vector<detail::ClassCommandStats> Endpoint::class_totals() const {
  std::vector<detail::ClassCommandStats> total(detail::class_counter_slots);
  for (unsigned i = 0; i < max_endpoint_workers; ++i) {
    for (unsigned cls = 0; cls < detail::class_counter_slots; ++cls) counters_[i].add_class_to(cls, total[cls]);
  }
  return total;
}

std::vector<detail::ClassCommandStats> Endpoint::class_command_stats() const {
  std::vector<detail::ClassCommandStats> total = class_totals();
  const std::vector<detail::ClassCommandStats> base = baseline_->copy(baseline_->classes);
  for (unsigned cls = 0; cls < detail::class_counter_slots; ++cls) {
    for (const detail::ClassCommandStatField& f : detail::class_command_stat_fields) {
      subtract(total[cls].*(f.field), base[cls].*(f.field));
    }
  }
  return total;
}

ServerStats Endpoint::connection_stats() const {
  ServerStats s = server_ != nullptr ? server_->stats() : ServerStats{};
  const ConnectionStats base = baseline_->copy(baseline_->connections);
  // memcached's stats_reset() zeroes these totals; gauges (curr_*, structures) stay.
  for (const ConnectionStatField& c : connection_stat_fields) {
    if (c.reset) subtract(s.total.*(c.field), base.*(c.field));
  }
  return s;
}

StagingStats Endpoint::staging_stats() const noexcept {
  StagingStats s;
  s.staged_bytes = staging_->held();
  s.staged_refused = staging_->refused();
  s.max_staged_bytes = staging_->limit();
  return s;
}

StoreStats Endpoint::store_stats() const {
  StoreStats s = store_.stats();
  const StoreStats base = baseline_->copy(baseline_->items);
  subtract(s.total_items, base.total_items);
  subtract(s.evictions, base.evictions);
  subtract(s.reclaimed, base.reclaimed);
  subtract(s.expired_unfetched, base.expired_unfetched);
  subtract(s.evicted_unfetched, base.evicted_unfetched);
  return s;
}

}  // namespace connkit::cache
