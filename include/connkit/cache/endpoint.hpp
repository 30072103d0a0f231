#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <connkit/options.hpp>
#include <connkit/server.hpp>

#include <connkit/cache/store.hpp>

namespace connkit::cache {

/// Which protocols a listener speaks (memcached's -B).
enum class ProtocolChoice : std::uint8_t { negotiate, ascii, binary };

/// Settings of a cache endpoint beyond its store.
struct EndpointOptions {
  ProtocolChoice protocol = ProtocolChoice::negotiate;  ///< -B
  std::string version = "1.6.18-connkit";               ///< the `version` reply's token
  std::size_t max_line = 2048;       ///< a non-get line longer than this without "\n" closes (memcached)
  bool cas_enabled = true;           ///< -C turns CAS off
  bool flush_enabled = true;         ///< -F turns flush_all off
};

/// Command counters (memcached's thread stats), summed over workers by Endpoint::command_stats().
struct CommandStats {
  std::uint64_t cmd_get = 0, cmd_set = 0, cmd_flush = 0, cmd_touch = 0;
  std::uint64_t get_hits = 0, get_misses = 0, get_expired = 0, get_flushed = 0;
  std::uint64_t delete_hits = 0, delete_misses = 0;
  std::uint64_t incr_hits = 0, incr_misses = 0, decr_hits = 0, decr_misses = 0;
  std::uint64_t cas_hits = 0, cas_misses = 0, cas_badval = 0;
  std::uint64_t touch_hits = 0, touch_misses = 0;
  std::uint64_t store_too_large = 0, store_no_memory = 0;
};

/// A command counter's wire name and field.
struct CommandStatField {
  const char* name;                       ///< memcached's wire name
  std::uint64_t CommandStats::*field;     ///< where it lives in CommandStats
};

/// Every command counter, in memcached's `stats` order.
inline constexpr CommandStatField command_stat_fields[] = {
    {"cmd_get", &CommandStats::cmd_get},         {"cmd_set", &CommandStats::cmd_set},
    {"cmd_flush", &CommandStats::cmd_flush},     {"cmd_touch", &CommandStats::cmd_touch},
    {"get_hits", &CommandStats::get_hits},       {"get_misses", &CommandStats::get_misses},
    {"get_expired", &CommandStats::get_expired}, {"get_flushed", &CommandStats::get_flushed},
    {"delete_misses", &CommandStats::delete_misses}, {"delete_hits", &CommandStats::delete_hits},
    {"incr_misses", &CommandStats::incr_misses}, {"incr_hits", &CommandStats::incr_hits},
    {"decr_misses", &CommandStats::decr_misses}, {"decr_hits", &CommandStats::decr_hits},
    {"cas_misses", &CommandStats::cas_misses},   {"cas_hits", &CommandStats::cas_hits},
    {"cas_badval", &CommandStats::cas_badval},   {"touch_hits", &CommandStats::touch_hits},
    {"touch_misses", &CommandStats::touch_misses},
    {"store_too_large", &CommandStats::store_too_large},
    {"store_no_memory", &CommandStats::store_no_memory},
};

/// Calls `f(wire_name, value)` for each command counter, in memcached's `stats` order.
template <class F>
void for_each_stat(const CommandStats& s, F&& f) {
  for (const CommandStatField& c : command_stat_fields) f(std::string_view(c.name), s.*(c.field));
}

namespace detail {
struct CommandCounters;
}

/// A memcached-compatible endpoint over a Store: makes protocol handlers for a connkit
/// listener, keeps command stats, and answers `stats` with the server's connection stats.
///
/// ```
/// cache::Store store({.memory_limit = 64 << 20});
/// cache::Endpoint endpoint(store);
/// ServerOptions options;
/// options.listeners.push_back({.port = 11211, .handler = endpoint.handler_factory()});
/// Server server(std::move(options));
/// endpoint.attach(server);   // `stats` reports this server's connections
/// server.start();
/// ```
class Endpoint {
 public:
  explicit Endpoint(Store& store, EndpointOptions options = {});
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  /// The factory for ListenerOptions::handler.
  HandlerFactory handler_factory();
  /// The server whose connection stats `stats` reports (optional; call before start()).
  void attach(const Server& server) noexcept { server_ = &server; }

  /// Command counters summed over workers. Thread-safe.
  CommandStats command_stats() const;
  Store& store() noexcept { return store_; }
  const EndpointOptions& options() const noexcept { return options_; }
  /// The server attached with attach(), or nullptr.
  const Server* server() const noexcept { return server_; }
  /// Unix time the endpoint was made (for `uptime`).
  std::int64_t started() const noexcept { return started_; }

  /// `stats reset`: command, traffic and item totals count from now (memcached's scope;
  /// gauges such as curr_items and curr_connections are not reset).
  void reset_stats();
  /// The attached server's connection stats, totals since the last reset. Thread-safe.
  ServerStats connection_stats() const;
  /// The store's item stats, totals since the last reset. Thread-safe.
  StoreStats store_stats() const;

  /// Counters of worker `index`, written only by that worker's thread (internal).
  detail::CommandCounters& counters(unsigned worker);

 private:
  Store& store_;
  EndpointOptions options_;
  const Server* server_ = nullptr;
  std::int64_t started_;
  struct Baseline;
  std::unique_ptr<detail::CommandCounters[]> counters_;  // one per possible worker
  std::unique_ptr<Baseline> baseline_;                  // subtracted after `stats reset`
};

/// Workers an Endpoint keeps counters for (worker indexes at or above it share the last slot).
inline constexpr unsigned max_endpoint_workers = 256;

}  // namespace connkit::cache
