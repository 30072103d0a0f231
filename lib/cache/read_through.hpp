#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/connection.hpp>
#include <connkit/deferred_reply.hpp>

// Read-through loading (groupcache's idea): a get or mg miss on an endpoint with a Loader
// waits for that key's load; every miss on the key, on any worker, while the load runs,
// waits for the same one. The first miss starts it; the completion stores the value, then
// answers each waiting request through the DeferredReply it took at its place in its
// connection's reply order.

namespace connkit::cache::detail {

/// How a request waiting on a load is answered once it finishes.
struct LoadWaiter {
  enum class Form : std::uint8_t {
    value,      ///< get, gat: "VALUE key flags bytes\r\n<data>\r\n", or nothing
    value_cas,  ///< gets, gats: the same with the CAS unique
    meta,       ///< mg: the reply its flags ask for, or "EN" (nothing under q)
  };
  Form form = Form::value;
  bool meta_value = false;  ///< mg's v
  bool meta_quiet = false;  ///< mg's q
  bool key_binary = false;  ///< mg's b: k shows the key in base64
  std::string meta_flags;   ///< mg: the request's flag tokens, as sent
  DeferredReply reply;      ///< the request's place in its connection's replies (set by await)
};

/// The loader's counters, shown by `stats` only when the endpoint has a loader.
struct LoadStats {
  std::uint64_t started = 0, coalesced = 0, found = 0, not_found = 0, failed = 0, timeouts = 0, not_stored = 0;
};

/// A load counter's wire name and field.
struct LoadStatField {
  const char* name;
  std::uint64_t LoadStats::*field;
};

/// Every load counter, in `stats` order (documented in docs/cache.md, "Read-through loading").
inline constexpr LoadStatField load_stat_fields[] = {
    {"load_started", &LoadStats::started},     {"load_coalesced", &LoadStats::coalesced},
    {"load_found", &LoadStats::found},         {"load_not_found", &LoadStats::not_found},
    {"load_failed", &LoadStats::failed},       {"load_timeouts", &LoadStats::timeouts},
    {"load_not_stored", &LoadStats::not_stored},
};

class LoadTable;

/// One key's load in flight.
struct PendingLoad {
  PendingLoad(LoadTable& t, std::string_view k) : table(t), key(k) {}
  LoadTable& table;
  const std::string key;
  std::vector<LoadWaiter> waiters;  // guarded by the table shard's mutex
  std::atomic<bool> finished{false};
};

/// The keys being loaded, shared by every worker of an endpoint: 16 shards of a map from key
/// to its load, each under its own mutex (taken only on a miss).
class LoadTable {
 public:
  LoadTable(Store& store, const EndpointOptions& options) : store_(store), options_(options) {}

  /// Makes `key`'s reply on `conn` wait for the key's load: takes a DeferredReply at the
  /// current place in the reply and joins the load in flight, or starts one (the loader runs
  /// on this thread before await returns). Returns the item instead, deferring nothing, if a
  /// load stored it since the caller missed: serve it as a hit.
  ItemRef await(Connection& conn, std::string_view key, LoadWaiter waiter);
  /// LoadCompletion's work: stores a found value, then answers every waiter.
  void finish(PendingLoad& load, const LoadResult& result);

  LoadStats stats() const noexcept;
  /// `stats reset`: the counters start again from zero.
  void reset_stats() noexcept;

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::shared_ptr<PendingLoad>> loads;
  };
  Shard& shard(std::string_view key) noexcept;
  void count(std::uint64_t LoadStats::*field) noexcept;
  /// The reply `waiter` gets; `item` is the loaded item (null: a miss).
  void compose(std::string& out, const LoadWaiter& waiter, std::string_view key, Item* item, std::int64_t now) const;

  Store& store_;
  const EndpointOptions& options_;
  std::array<Shard, 16> shards_;
  std::array<std::atomic<std::uint64_t>, std::size(load_stat_fields)> counters_{};
};

}  // namespace connkit::cache::detail
