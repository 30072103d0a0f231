#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <connkit/options.hpp>
#include <connkit/server.hpp>

#include <connkit/cache/store.hpp>

namespace connkit::cache {

/// What a Loader found for a key.
struct LoadResult {
  enum class Status : std::uint8_t {
    found,      ///< `value` and `flags` hold the item
    not_found,  ///< the backend has no such key: the waiting requests see a miss
    failed,     ///< the backend could not answer: a miss too, counted in load_failed
    timed_out,  ///< the backend was too slow: a miss too, counted in load_timeouts
  };
  Status status = Status::failed;
  std::string_view value;   ///< found: the bytes, copied before the completion returns
  std::uint32_t flags = 0;  ///< found: the client flags, stored unchanged
};

namespace detail {
struct PendingLoad;
}

/// Finishes one load: call it once, from any thread, before the Endpoint is destroyed.
/// Copyable; calls after the first do nothing. A found value is stored first, then every
/// request waiting on the key is answered on the calling thread.
class LoadCompletion {
 public:
  /// Made by the endpoint; applications never construct a live one.
  explicit LoadCompletion(std::shared_ptr<detail::PendingLoad> load) noexcept : load_(std::move(load)) {}
  void operator()(const LoadResult& result) const;

 private:
  std::shared_ptr<detail::PendingLoad> load_;
};

/// Loads a key the store lacks (read-through, groupcache's idea): called on the worker
/// thread of the first request that missed, with that worker's executor (timers and
/// sockets made with it complete on that thread); must not block. Requests for the same
/// key that miss meanwhile, on any worker, wait for this one load.
using Loader = std::function<void(std::string_view key, boost::asio::io_context::executor_type executor,
                                  LoadCompletion done)>;

/// Which protocols a listener speaks (memcached's -B, or -l proto[...]:).
enum class ProtocolChoice : std::uint8_t {
  negotiate,  ///< the first byte chooses: 0x80 the binary protocol, else ascii (-B auto)
  ascii,      ///< the text protocol (and meta commands) only
  binary,     ///< the binary protocol only
};

/// memcached's name for a protocol choice (its prot_text()): "auto-negotiate", "ascii" or
/// "binary", as in "<16 server listening (ascii)" and `stats settings` binding_protocol.
constexpr std::string_view protocol_text(ProtocolChoice protocol) noexcept {
  return protocol == ProtocolChoice::ascii    ? "ascii"
         : protocol == ProtocolChoice::binary ? "binary"
                                              : "auto-negotiate";
}

/// What the text protocol's `shutdown` command asks for (memcached's process_shutdown_command).
enum class ShutdownMode : std::uint8_t {
  immediate,  ///< `shutdown`: memcached raises SIGINT
  graceful,   ///< `shutdown graceful`: memcached raises SIGUSR1
};

/// Settings of a cache endpoint beyond its store.
struct EndpointOptions {
  ProtocolChoice protocol = ProtocolChoice::negotiate;  ///< -B
  std::string version = "1.6.18-connkit";               ///< the `version` reply's token
  std::size_t max_line = 2048;       ///< a non-get line longer than this without "\n" closes (memcached)
  bool cas_enabled = true;           ///< -C turns CAS off
  bool flush_enabled = true;         ///< -F turns flush_all off
  bool dump_enabled = true;          ///< -X turns `lru_crawler metadump` off
  /// Per-prefix stats (`stats detail`): the delimiter ending a key's prefix, and whether
  /// counting starts on (memcached's -D sets both; `stats detail on|off` switches it).
  char prefix_delimiter = ':';
  bool detail_enabled = false;
  /// Called on a get, gets, gat, gats or mg miss (none: a miss is a miss). See docs/cache.md.
  Loader loader;
  std::chrono::seconds loaded_ttl{60};  ///< expiry of loaded items (memcached's exptime form)
  /// Bytes all connections together may hold for storage-command values still arriving.
  /// A value not yet complete waits outside the store, so a stalled client neither holds
  /// nor evicts store memory; past this bound such a command is refused with memcached's
  /// `SERVER_ERROR out of memory storing object`. Raised to item_size_max if below it, so a
  /// value of any size the store takes can come in. See docs/cache.md, "Values on their way in".
  std::size_t max_staged_bytes = 64u << 20;
  /// Stops the host when a client sends `shutdown` or `shutdown graceful` (memcached's -A).
  /// Called on a worker thread; must not block (post the stop, or raise a signal the host
  /// handles). The connection that asked is closed without a reply. Empty (the default):
  /// the command answers `ERROR: shutdown not enabled`.
  std::function<void(ShutdownMode)> shutdown;
  /// Authentication, off by default (docs/cache.md, "Authentication"). Either one makes
  /// configure() pin the listener to its protocol and require it, as memcached does:
  /// sasl the binary protocol, auth_file the ascii one (auth_file wins if both are set).
  bool sasl = false;      ///< -S: SASL PLAIN over the binary protocol
  std::string sasl_pwdb;  ///< -S: `user:password` lines read at each attempt (MEMCACHED_SASL_PWDB); empty: nobody
  std::string auth_file;  ///< -Y: `user:password` lines for the ascii login, read by Endpoint::load_auth_file()
};

/// Storage-command values still arriving, held outside the store (Endpoint::staging_stats()).
struct StagingStats {
  std::uint64_t staged_bytes = 0;      ///< bytes held now (a gauge)
  std::uint64_t staged_refused = 0;    ///< commands refused at the limit since the endpoint was made
  std::uint64_t max_staged_bytes = 0;  ///< the limit in force
};

/// Command counters (memcached's thread stats), summed over workers by Endpoint::command_stats().
struct CommandStats {
  std::uint64_t cmd_get = 0, cmd_set = 0, cmd_flush = 0, cmd_touch = 0;
  std::uint64_t cmd_meta = 0;  ///< memcached 1.6.18 counts only `me` here
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
    {"cmd_meta", &CommandStats::cmd_meta},
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
struct ClassCommandStats;
class AuthFile;
struct CommandCounters;
class LoadTable;
class PrefixStats;
class ValueStaging;
}

/// A memcached-compatible endpoint over a Store: makes protocol handlers for a connkit
/// listener, keeps command stats, and answers `stats` with the server's connection stats.
///
/// ```
/// cache::Store store({.memory_limit = 64 << 20});
/// cache::Endpoint endpoint(store);
/// ListenerOptions listener{.port = 11211};
/// endpoint.configure(listener, cache::ProtocolChoice::negotiate);  // memcached's -B auto
/// ServerOptions options;
/// options.listeners.push_back(std::move(listener));
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

  /// The factory for ListenerOptions::handler: the text protocol (and meta commands).
  HandlerFactory handler_factory();
  /// The factory for ListenerOptions::binary_handler: the binary protocol.
  HandlerFactory binary_handler_factory();
  /// Makes `listener` speak `protocol`: sets its handler, binary_handler and name
  /// (protocol_text()). negotiate sets both factories, so the first byte of each connection
  /// (of each datagram, on UDP) chooses; ascii or binary pins the listener to one. A UDP
  /// listener also gets memcached's 8-byte frame header (docs/cache.md, "UDP").
  /// With EndpointOptions::auth_file or sasl, the listener requires authentication and
  /// speaks that protocol only, whatever `protocol` says.
  void configure(ListenerOptions& listener, ProtocolChoice protocol);
  /// Reads EndpointOptions::auth_file (memcached's authfile_load, at start and on SIGHUP).
  /// Until a read succeeds nobody can log in; a failed read keeps the users read before.
  /// Returns memcached's message for a failure, empty on success. Thread-safe.
  std::string load_auth_file();
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
  /// Values on their way in (EndpointOptions::max_staged_bytes). Not in `stats`, whose lines
  /// stay memcached's; `stats settings` shows the limit. Thread-safe.
  StagingStats staging_stats() const noexcept;

  /// Per-class command counters (`stats slabs`) by class id, summed over workers, since the
  /// last reset; id 0 counts items above the largest class (internal).
  std::vector<detail::ClassCommandStats> class_command_stats() const;

  /// Counters of worker `index`, written only by that worker's thread (internal).
  detail::CommandCounters& counters(unsigned worker);
  /// The per-prefix stats of `stats detail` (internal).
  detail::PrefixStats& prefix_stats() noexcept { return *prefixes_; }
  const detail::PrefixStats& prefix_stats() const noexcept { return *prefixes_; }
  /// The bound on staged values, charged by the protocol handlers (internal).
  detail::ValueStaging& staging() noexcept { return *staging_; }
  /// The users of the ascii login (internal).
  const detail::AuthFile& auth_file() const noexcept { return *auth_; }

 private:
  Store& store_;
  EndpointOptions options_;
  const Server* server_ = nullptr;
  std::int64_t started_;
  struct Baseline;
  std::unique_ptr<detail::CommandCounters[]> counters_;  // one per possible worker
  std::unique_ptr<Baseline> baseline_;                  // subtracted after `stats reset`
  std::unique_ptr<detail::LoadTable> loads_;            // keys being loaded; null without a loader
  std::unique_ptr<detail::PrefixStats> prefixes_;       // stats detail
  std::unique_ptr<detail::ValueStaging> staging_;       // values whose bytes are still arriving

  std::vector<detail::ClassCommandStats> class_totals() const;  // not yet less the baseline
  std::unique_ptr<detail::AuthFile> auth_;              // -Y's users
};

/// Workers an Endpoint keeps counters for (worker indexes at or above it share the last slot).
inline constexpr unsigned max_endpoint_workers = 256;

}  // namespace connkit::cache
