#pragma once

#include "workload.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen {

/// Settings of the memcache mode, from the command line.
struct MemcacheSettings {
  std::uint64_t key_space = 100000;  ///< keys "key:" + 28-digit number, numbers 0..key_space - 1
  std::size_t value_size = 100;      ///< bytes of every value set
  double set_ratio = 0.1;            ///< share of requests that are sets; the rest are gets
  std::size_t mget = 1;              ///< keys per get (distinct, in one "get k1 ... kN")
  bool prefill = false;              ///< set every key once before the run
  std::size_t depth = 1;             ///< requests in flight per connection
  bool binary = false;               ///< memcached's binary protocol instead of text
  bool binary_getk = false;          ///< binary: a single get is GETK (libmemcached), not GET (memtier)
};

/// The next pseudo-random number of `state` (splitmix64).
std::uint64_t splitmix64(std::uint64_t& state);

/// Counters shared by all sessions of a MemcacheWorkload, added to once per parsed read.
struct MemcacheCounters {
  std::atomic<std::uint64_t> sets{0};    ///< set requests answered STORED
  std::atomic<std::uint64_t> hits{0};    ///< keys asked for and returned
  std::atomic<std::uint64_t> misses{0};  ///< keys asked for and not returned
  std::atomic<std::uint64_t> errors{0};  ///< replies that were wrong (also reported as mismatches)
};

/// Memcached text-protocol mode: random sets and (multi-)gets over a fixed key space.
///
/// Key n is "key:" followed by n in 28 zero-padded digits (32 bytes). Its value is the
/// key's digits (cut to the value size) followed by letters 'a'..'z' rotated by n % 26, so
/// the value of every key is known and each returned byte is checked. A set expects
/// "STORED"; a get expects, for the requested keys in order, "VALUE" blocks of some of them
/// and then "END". Any other reply (ERROR, CLIENT_ERROR, SERVER_ERROR, ...) is an error.
class MemcacheWorkload final : public Workload {
 public:
  /// Creates the workload; `settings.mget` must not exceed `settings.key_space`.
  explicit MemcacheWorkload(const MemcacheSettings& settings);

  /// Returns "memcache" or "memcache-binary".
  std::string_view name() const override { return settings_.binary ? "memcache-binary" : "memcache"; }

  /// Describes the key space, value size and request mix.
  std::string describe() const override;

  /// With --prefill, sets every key once over one connection (noreply, pipelined batches),
  /// then waits for a "version" round trip; throws on failure.
  void prepare(const std::string& host, std::uint16_t port) const override;

  /// Creates the session of connection `index` (text or binary protocol).
  std::unique_ptr<WorkloadSession> make_session(std::size_t index) const override;

  /// Draws a session's next request from `random`: true for a set of `set_key`; otherwise
  /// `keys[0..mget)` are filled with distinct random keys to get.
  bool draw(std::uint64_t& random, std::uint64_t& set_key, std::uint64_t* keys) const;

  /// Reports sets, hits, misses and errors.
  std::string summary() const override;

  /// Returns "wrong response(s)".
  std::string_view mismatch_unit() const override { return "wrong response(s)"; }

  /// Appends the 32 bytes of key `n` to `out`.
  static void append_key(std::string& out, std::uint64_t n);

  /// The number of key text `key`; false unless it is "key:" and 28 digits.
  static bool key_number(std::string_view key, std::uint64_t& n);

  /// Appends the value of key `n` to `out`.
  void append_value(std::string& out, std::uint64_t n) const;

  /// True if `data` is the value of key `n`, whose 32-byte text is `key`.
  bool value_matches(std::string_view data, std::string_view key, std::uint64_t n) const;

  /// The settings the workload was made with.
  const MemcacheSettings& settings() const { return settings_; }

  /// " 0 0 SIZE\r\n": what follows the key in a set command.
  std::string_view set_suffix() const { return set_suffix_; }

  /// The counters all sessions add to.
  MemcacheCounters& counters() const { return counters_; }

 private:
  MemcacheSettings settings_;
  std::string alphabet_;    ///< value_size + 26 letters: key n's letters start at n % 26
  std::string set_suffix_;
  mutable MemcacheCounters counters_;
};

/// What both protocols' sessions keep: a ring of the requests in flight (`depth` slots,
/// `mget` keys each), the progress of the oldest one's reply, and counts not yet added to
/// the workload's counters.
class SessionRing {
 protected:
  /// What one in-flight request was.
  struct Request {
    bool set = false;
    std::uint64_t key = 0;     ///< the key of a set
    std::uint32_t opaque = 0;  ///< binary protocol: the request's opaque
  };

  /// Creates the ring of a session whose random choices are seeded from `index`.
  SessionRing(const MemcacheWorkload& workload, std::size_t index);

  /// Draws the next request into a new slot; returns the slot.
  std::size_t push_request();

  /// The keys of the get in ring slot `slot`.
  std::uint64_t* keys_of(std::size_t slot) { return keys_.data() + slot * settings_.mget; }

  /// Checks a returned value of the oldest get: `key` must be one of its keys after those
  /// already returned (the ones skipped were misses) and `data` that key's value.
  void on_hit(std::string_view key, std::string_view data, bool flags_ok);

  /// Counts the oldest get's keys not returned as misses.
  void on_end() { misses_ += settings_.mget - next_key_; }

  /// Retires the oldest in-flight request; counts it as wrong if anything in its reply was.
  void finish_request(ParseResult& result);

  /// Adds the counts gathered so far to the workload's counters.
  void publish_counts();

  const MemcacheWorkload& workload_;
  const MemcacheSettings& settings_;
  std::uint64_t random_;
  std::vector<Request> requests_;      ///< ring of in-flight requests, `depth` slots
  std::vector<std::uint64_t> keys_;    ///< keys of the gets in flight, `mget` per ring slot
  std::size_t head_ = 0;               ///< ring slot of the oldest in-flight request
  std::size_t in_flight_ = 0;
  std::size_t next_key_ = 0;           ///< keys of the oldest get not yet returned or skipped
  bool wrong_ = false;                 ///< the oldest request's reply so far has an error
  std::uint64_t sets_ = 0;             ///< counts not yet added to the workload's counters
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t errors_ = 0;
};

/// One connection of MemcacheWorkload in the text protocol: makes random requests and
/// checks the replies in order.
class MemcacheSession final : public WorkloadSession, private SessionRing {
 public:
  /// Creates a session whose random choices are seeded from `index`.
  MemcacheSession(const MemcacheWorkload& workload, std::size_t index) : SessionRing(workload, index) {}

  /// Appends a set (with probability set_ratio) or a get of mget distinct random keys.
  void append_request(std::string& out) override;

  /// Parses complete reply lines and VALUE blocks; completes a request at STORED, END or an error.
  ParseResult consume(std::span<const char> input) override;

 private:
  /// Handles a VALUE block: `line` is its header, `data` its data; false if the header is malformed.
  bool on_value(std::string_view line, std::string_view data, std::string& error);
};

}  // namespace loadgen
