// Many clients at once against one cache endpoint served by four workers: set, get, gets,
// delete, incr and decr on overlapping keys, every reply checked as it arrives, then the
// totals (counter sums, item count, memory accounting, command and connection stats).
//
// Client threads never call Catch2 (it is not thread-safe): each records its failures as
// text with the command that caused them, and the test thread reports them afterwards.
#include <connkit/cache/endpoint.hpp>
#include <connkit/server.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <poll.h>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"
#include "support/client.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using namespace std::chrono_literals;

namespace {

/// How long one reply may take (generous: ASan and a busy 2-core machine).
constexpr auto reply_limit = 15s;
constexpr std::string_view out_of_memory = "SERVER_ERROR out of memory storing object";

/// A store, an endpoint and a server with several workers on a free port (no item in these
/// tests has an expiry, so the fixture's clock never needs to move).
struct StressFixture : connkit::test::CacheFixture {
  StressFixture(std::size_t memory, unsigned threads) : CacheFixture(memory, 1u << 20, {}, threads) {}
};

/// A Client plus a receive buffer: reads reply lines and value bodies, each with a deadline.
class Wire {
 public:
  explicit Wire(Client c) : client_(std::move(c)) {}

  bool send(std::string_view bytes) { return client_.send_all(bytes); }

  /// One line without its "\r\n"; false on EOF, error or time-out.
  bool line(std::string& out) {
    std::size_t scanned = 0;  // bytes after pos_ known to hold no "\r\n" start (fill() may move pos_)
    for (;;) {
      const std::size_t crlf = buffer_.find("\r\n", pos_ + scanned);
      if (crlf != std::string::npos) {
        out.assign(buffer_, pos_, crlf - pos_);
        pos_ = crlf + 2;
        return true;
      }
      scanned = buffer_.size() - pos_ > 0 ? buffer_.size() - pos_ - 1 : 0;
      if (!fill()) return false;
    }
  }

  /// Exactly n bytes.
  bool bytes(std::size_t n, std::string& out) {
    while (buffer_.size() - pos_ < n) {
      if (!fill()) return false;
    }
    out.assign(buffer_, pos_, n);
    pos_ += n;
    return true;
  }

  /// Bytes received but not yet read (a reply nobody asked for shows up here).
  std::size_t unread() const noexcept { return buffer_.size() - pos_; }
  /// Waits up to `limit` for stray bytes; true if any arrived.
  bool stray_bytes(std::chrono::milliseconds limit) {
    if (unread() != 0) return true;
    pollfd p{client_.fd(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) > 0;
  }

 private:
  bool fill() {
    if (pos_ > 65536) {
      buffer_.erase(0, pos_);
      pos_ = 0;
    }
    const auto deadline = std::chrono::steady_clock::now() + reply_limit;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{client_.fd(), POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      char chunk[65536];
      const ssize_t n = ::recv(client_.fd(), chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
  }

  Client client_;
  std::string buffer_;
  std::size_t pos_ = 0;
};

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

/// A data value describes itself: "K<key>:W<writer>:S<seq>:L<length>:" then filler that is
/// a function of all four, so any byte from another value, item or offset shows.
std::string make_value(unsigned key, unsigned writer, unsigned seq, std::size_t length) {
  std::string v = "K" + std::to_string(key) + ":W" + std::to_string(writer) + ":S" + std::to_string(seq) + ":L" +
                  std::to_string(length) + ":";
  const std::size_t header = v.size();
  v.resize(std::max(length, header));
  for (std::size_t i = header; i < v.size(); ++i) {
    v[i] = static_cast<char>('a' + (key * 7 + writer * 13 + seq * 31 + i) % 26);
  }
  return v;
}

/// The client flags a value is stored with (so a header paired with the wrong body shows).
std::uint32_t data_flags(unsigned key, unsigned writer, unsigned seq) {
  return static_cast<std::uint32_t>((key * 2654435761u) ^ (writer * 40503u) ^ (seq * 97u));
}

struct ValueId {
  unsigned key = 0, writer = 0, seq = 0;
};

/// Parses and fully checks a data value; empty string when it is intact.
std::string check_value(std::string_view value, std::uint32_t flags, unsigned expected_key, ValueId& id) {
  unsigned fields[4] = {};
  const char tags[4] = {'K', 'W', 'S', 'L'};
  std::size_t at = 0;
  for (int f = 0; f < 4; ++f) {
    if (at >= value.size() || value[at] != tags[f]) return "malformed header";
    ++at;
    const std::size_t colon = value.find(':', at);
    if (colon == std::string_view::npos) return "malformed header";
    const auto n = parse_u64(value.substr(at, colon - at));
    if (!n) return "malformed header";
    fields[f] = static_cast<unsigned>(*n);
    at = colon + 1;
  }
  id = {fields[0], fields[1], fields[2]};
  if (fields[0] != expected_key) return "value belongs to key " + std::to_string(fields[0]);
  if (fields[3] != value.size()) return "declared length " + std::to_string(fields[3]) + " but <bytes> is " +
                                        std::to_string(value.size());
  if (make_value(fields[0], fields[1], fields[2], fields[3]) != value) return "body bytes differ from what was written";
  if (flags != data_flags(fields[0], fields[1], fields[2])) return "flags belong to another value";
  return {};
}

/// What one run does.
struct Mix {
  unsigned clients = 50;
  unsigned commands = 400;         ///< per client
  unsigned shared_keys = 16;       ///< data keys every client reads and writes
  std::size_t small_min = 40, small_max = 200;     ///< most values
  std::size_t large_min = 200, large_max = 40000;  ///< some values (1 in 4)
  bool eviction = false;           ///< items may vanish and sets may fail for memory
};

const std::string counter_key = "stress:counter";
std::string data_key(unsigned k) { return "stress:data:" + std::to_string(k); }
std::string own_key(unsigned client) { return "stress:own:" + std::to_string(client); }

/// What one client saw, for the checks that span clients.
struct ClientLog {
  std::vector<std::string> failures;
  std::vector<std::uint64_t> incr_results;  ///< shared counter values returned by incr
  std::uint64_t incr_sum = 0;               ///< acknowledged deltas added to the shared counter
  std::vector<std::uint64_t> counter_reads; ///< shared counter values returned by get/gets
  std::vector<std::pair<std::uint64_t, std::string>> cas_reads;  ///< gets: CAS unique -> what it named
  std::uint64_t own_expected = 0;           ///< this client's own counter, as it must be
  bool own_exists = false;
  // What the command stats must add up to.
  std::uint64_t get_keys = 0, get_hits = 0, sets_counted = 0;
  std::uint64_t deleted = 0, delete_missed = 0, incr_hits = 0, incr_missed = 0, decr_hits = 0, decr_missed = 0;
  std::uint64_t out_of_memory = 0;
};

/// One client thread: `mix.commands` commands in pipelined batches of 1-4, each reply checked.
class StressClient {
 public:
  StressClient(const Mix& mix, unsigned id, ClientLog& log) : mix_(mix), id_(id), log_(log), rng_(0x5eed0000u + id) {
    last_seen_.assign(mix.shared_keys, std::vector<int>(mix.clients, -1));
  }

  void run(std::uint16_t port, std::latch& connected, std::latch& go) {
    std::optional<Wire> wire;
    try {
      wire.emplace(Client::tcp(port));
    } catch (const std::exception& e) {
      fail("connect: " + std::string(e.what()));
    }
    connected.count_down();
    go.wait();
    if (!wire) return;
    wire_ = &*wire;
    // This client's own counter: nobody else touches it, so every reply is exactly known.
    {
      Pending p;
      p.kind = Kind::set_own;
      p.command = "set " + own_key(id_) + " 0 0 1\r\n0\r\n";
      if (!wire_->send(p.command) || !read_reply(p)) return;
    }
    unsigned issued = 0;
    while (issued < mix_.commands && log_.failures.size() < 10) {
      const unsigned batch = std::min<unsigned>(mix_.commands - issued, pick(0, 9) < 6 ? 1 : pick(2, 4));
      std::string request;
      pending_.clear();
      for (unsigned i = 0; i < batch; ++i) add_command(request, issued + i);
      issued += batch;
      if (!wire_->send(request)) {
        fail("send failed");
        return;
      }
      for (const Pending& p : pending_) {
        if (!read_reply(p)) return;  // the stream is out of step: nothing after this is trustworthy
      }
    }
    if (wire_->stray_bytes(0ms)) fail("bytes arrived that no command asked for");
  }

 private:
  enum class Kind { set_data, get, delete_data, incr_counter, incr_own, decr_own, set_own, add_counter };
  struct Pending {
    Kind kind = Kind::get;
    std::string command;              // for failure messages
    std::vector<std::string> keys;    // get: in request order
    bool cas = false;                 // gets
    unsigned key = 0;                 // set_data/delete_data: shared key index
    unsigned seq = 0;                 // set_data: value's sequence number
    std::uint64_t delta = 0;          // incr/decr
  };

  unsigned pick(unsigned lo, unsigned hi) { return std::uniform_int_distribution<unsigned>(lo, hi)(rng_); }

  void fail(std::string what) {
    if (log_.failures.size() < 10) log_.failures.push_back("client " + std::to_string(id_) + ": " + std::move(what));
  }
  void fail(const Pending& p, const std::string& what, const std::string& got) {
    std::string command = p.command.substr(0, 120);
    fail(what + "\n    command: " + command + "\n    reply:   " + got.substr(0, 160));
  }

  void add_command(std::string& request, unsigned seq) {
    Pending p;
    const unsigned r = pick(0, 99);
    if (mix_.eviction && !counter_present_ && r < 60) {
      p.kind = Kind::add_counter;  // put the shared counter back after an eviction took it
      p.command = "add " + counter_key + " 0 0 1\r\n0\r\n";
    } else if (!log_.own_exists && r >= 60 && r < 100) {
      p.kind = Kind::set_own;
      p.command = "set " + own_key(id_) + " 0 0 1\r\n0\r\n";
    } else if (r < 25) {
      p.kind = Kind::set_data;
      p.key = pick(0, mix_.shared_keys - 1);
      p.seq = seq;
      const std::size_t length = pick(0, 3) == 0 ? pick(static_cast<unsigned>(mix_.large_min), static_cast<unsigned>(mix_.large_max))
                                                 : pick(static_cast<unsigned>(mix_.small_min), static_cast<unsigned>(mix_.small_max));
      const std::string value = make_value(p.key, id_, seq, length);
      p.command = "set " + data_key(p.key) + " " + std::to_string(data_flags(p.key, id_, seq)) + " 0 " +
                  std::to_string(value.size()) + "\r\n" + value + "\r\n";
    } else if (r < 50) {
      p.kind = Kind::get;
      p.cas = pick(0, 2) == 0;
      const unsigned n = pick(1, 4);
      for (unsigned i = 0; i < n; ++i) {
        const unsigned which = pick(0, 9);
        p.keys.push_back(which < 6 ? data_key(pick(0, mix_.shared_keys - 1)) : which < 8 ? counter_key : own_key(id_));
      }
      p.command = p.cas ? "gets" : "get";
      for (const auto& k : p.keys) p.command += " " + k;
      p.command += "\r\n";
    } else if (r < 57) {
      p.kind = Kind::delete_data;
      p.key = pick(0, mix_.shared_keys - 1);
      p.command = "delete " + data_key(p.key) + "\r\n";
    } else if (r < 80) {
      p.kind = Kind::incr_counter;
      p.delta = pick(1, 1000);
      p.command = "incr " + counter_key + " " + std::to_string(p.delta) + "\r\n";
    } else if (r < 92) {
      p.kind = Kind::incr_own;
      // Now and then a delta that makes the number longer (a new item) rather than in place.
      p.delta = pick(0, 9) == 0 ? 1000000 : pick(1, 100);
      p.command = "incr " + own_key(id_) + " " + std::to_string(p.delta) + "\r\n";
    } else {
      p.kind = Kind::decr_own;
      p.delta = pick(1, 300);  // shortens the number sometimes: memcached pads with spaces
      p.command = "decr " + own_key(id_) + " " + std::to_string(p.delta) + "\r\n";
    }
    request += p.command;
    pending_.push_back(std::move(p));
  }

  bool read_reply(const Pending& p) {
    std::string line;
    if (!wire_->line(line)) {
      fail(p, "no reply before the deadline (or the server closed)", "");
      return false;
    }
    switch (p.kind) {
      case Kind::set_data:
        if (line == "STORED") {
          log_.sets_counted++;
          auto& seen = last_seen_[p.key][id_];
          seen = std::max<int>(seen, static_cast<int>(p.seq));
          return true;
        }
        if (mix_.eviction && line == out_of_memory) {
          log_.out_of_memory++;
          return true;
        }
        fail(p, "unexpected reply to set", line);
        return false;
      case Kind::set_own:
      case Kind::add_counter:
        if (line == out_of_memory && mix_.eviction) {
          log_.out_of_memory++;
          return true;
        }
        if (line == "STORED" || (p.kind == Kind::add_counter && line == "NOT_STORED")) {
          log_.sets_counted++;
          if (p.kind == Kind::set_own) {
            log_.own_exists = true;
            log_.own_expected = 0;
          } else {
            counter_present_ = true;
          }
          return true;
        }
        fail(p, "unexpected reply to set/add", line);
        return false;
      case Kind::delete_data:
        if (line == "DELETED") {
          log_.deleted++;
          return true;
        }
        if (line == "NOT_FOUND") {
          log_.delete_missed++;
          return true;
        }
        fail(p, "unexpected reply to delete", line);
        return false;
      case Kind::incr_counter:
        return incr_counter_reply(p, line);
      case Kind::incr_own:
      case Kind::decr_own:
        return own_counter_reply(p, line);
      case Kind::get:
        return get_reply(p, line);
    }
    return false;
  }

  bool incr_counter_reply(const Pending& p, const std::string& line) {
    if (line == "NOT_FOUND") {
      log_.incr_missed++;
      if (!mix_.eviction) fail(p, "the shared counter vanished (nothing deletes or evicts it here)", line);
      counter_present_ = false;
      return true;
    }
    const auto v = parse_u64(line);
    if (!v) {
      fail(p, "unexpected reply to incr", line);
      return false;
    }
    log_.incr_hits++;
    if (!mix_.eviction) {
      // Only incr changes it: what I get back is at least what I saw before plus my delta.
      if (*v < last_counter_ + p.delta) {
        fail(p, "incr returned " + line + " but this client had already seen " + std::to_string(last_counter_) +
                    " before adding " + std::to_string(p.delta) + " (lost update or stale value)", line);
      }
      last_counter_ = *v;
      log_.incr_results.push_back(*v);
      log_.incr_sum += p.delta;
    }
    return true;
  }

  bool own_counter_reply(const Pending& p, const std::string& line) {
    const bool incr = p.kind == Kind::incr_own;
    if (line == "NOT_FOUND") {
      (incr ? log_.incr_missed : log_.decr_missed)++;
      if (!mix_.eviction) fail(p, "this client's own counter vanished", line);  // eviction may take it
      log_.own_exists = false;
      return true;
    }
    const auto v = parse_u64(line);
    if (!v) {
      fail(p, "unexpected reply to incr/decr", line);
      return false;
    }
    (incr ? log_.incr_hits : log_.decr_hits)++;
    if (!log_.own_exists) {
      fail(p, "own counter answered although an earlier command found it missing", line);
    }
    const std::uint64_t expected =
        incr ? log_.own_expected + p.delta : (p.delta > log_.own_expected ? 0 : log_.own_expected - p.delta);
    if (*v != expected) {
      fail(p, "own counter is " + line + ", expected " + std::to_string(expected) + " (only this client writes it)", line);
    }
    log_.own_expected = *v;
    return true;
  }

  bool get_reply(const Pending& p, std::string line) {
    log_.get_keys += p.keys.size();
    std::size_t next = 0;  // hits come back in request order: the next key it may be
    for (;;) {
      if (line == "END") {
        while (next < p.keys.size()) check_miss(p, p.keys[next++]);
        return true;
      }
      // VALUE <key> <flags> <bytes>[ <cas>]
      std::vector<std::string_view> f;
      std::string_view rest(line);
      while (!rest.empty()) {
        const std::size_t sp = std::min(rest.find(' '), rest.size());
        f.push_back(rest.substr(0, sp));
        rest.remove_prefix(std::min(sp + 1, rest.size()));
      }
      if (f.size() != (p.cas ? 5u : 4u) || f[0] != "VALUE") {
        fail(p, "unexpected line in a get reply", line);
        return false;
      }
      const auto flags = parse_u64(f[2]);
      const auto size = parse_u64(f[3]);
      const auto cas = p.cas ? parse_u64(f[4]) : std::optional<std::uint64_t>(0);
      if (!flags || !size || !cas || *flags > UINT32_MAX) {
        fail(p, "malformed VALUE line", line);
        return false;
      }
      while (next < p.keys.size() && p.keys[next] != f[1]) check_miss(p, p.keys[next++]);
      if (next == p.keys.size()) {
        fail(p, "VALUE for a key not requested, or out of order", line);
        return false;
      }
      ++next;
      std::string value;
      std::string crlf;
      if (!wire_->bytes(*size, value) || !wire_->bytes(2, crlf)) {
        fail(p, "value body did not arrive", line);
        return false;
      }
      if (crlf != "\r\n") {
        fail(p, "value body not followed by \\r\\n (wrong <bytes>?)", line + " / " + value.substr(0, 60));
        return false;
      }
      log_.get_hits++;
      check_hit(p, line, std::string(f[1]), static_cast<std::uint32_t>(*flags), value, *cas);
      if (!wire_->line(line)) {
        fail(p, "get reply ended early", "");
        return false;
      }
    }
  }

  /// Without eviction the counters are never removed: a get must find them.
  void check_miss(const Pending& p, const std::string& key) {
    if (mix_.eviction) return;
    if (key == counter_key) fail(p, "get missed the shared counter", key);
    if (key == own_key(id_)) fail(p, "get missed this client's own counter", key);
  }

  void check_hit(const Pending& p, const std::string& header, const std::string& key, std::uint32_t flags,
                 const std::string& value, std::uint64_t cas) {
    const std::string context = header + " / " + value.substr(0, 60);
    if (key == counter_key || key == own_key(id_)) {
      // Counters: digits, then only the spaces decr leaves when the number gets shorter.
      const std::size_t digits = value.find_first_not_of("0123456789");
      const auto v = parse_u64(std::string_view(value).substr(0, std::min(digits, value.size())));
      if (!v || flags != 0 ||
          (digits != std::string::npos && value.find_first_not_of(' ', digits) != std::string::npos)) {
        fail(p, "counter value is not a number", context);
        return;
      }
      if (key == own_key(id_)) {
        if (!log_.own_exists || *v != log_.own_expected) {
          fail(p, "own counter read " + std::to_string(*v) + ", expected " +
                      (log_.own_exists ? std::to_string(log_.own_expected) : std::string("a miss")), context);
        }
      } else {
        if (digits != std::string::npos) fail(p, "the shared counter only grows, yet it is padded", context);
        if (!mix_.eviction) {
          if (*v < last_counter_) {
            fail(p, "shared counter went back from " + std::to_string(last_counter_) + " to " + std::to_string(*v),
                 context);
          }
          last_counter_ = std::max(last_counter_, *v);
          log_.counter_reads.push_back(*v);
        }
      }
      if (p.cas) log_.cas_reads.emplace_back(cas, key + "=" + std::to_string(*v));
      return;
    }
    const std::string prefix = "stress:data:";
    const auto index = parse_u64(std::string_view(key).substr(prefix.size()));
    if (key.compare(0, prefix.size(), prefix) != 0 || !index) {
      fail(p, "VALUE for a key not requested", context);
      return;
    }
    ValueId id;
    const std::string problem = check_value(value, flags, static_cast<unsigned>(*index), id);
    if (!problem.empty()) {
      fail(p, "torn or foreign value: " + problem, context);
      return;
    }
    if (id.writer >= mix_.clients || id.seq >= mix_.commands) {
      fail(p, "value from a writer or sequence number that never existed", context);
      return;
    }
    // A writer's sets to one key land in its order: once its seq S is seen, older ones are gone.
    int& seen = last_seen_[id.key][id.writer];
    if (static_cast<int>(id.seq) < seen) {
      fail(p, "stale value came back: writer " + std::to_string(id.writer) + " seq " + std::to_string(id.seq) +
                  " after seq " + std::to_string(seen) + " had been seen for this key",
           context);
    }
    seen = std::max(seen, static_cast<int>(id.seq));
    if (p.cas) {
      log_.cas_reads.emplace_back(cas, key + "=" + value.substr(0, value.find(":L")));
    }
  }

  const Mix& mix_;
  const unsigned id_;
  ClientLog& log_;
  std::mt19937 rng_;
  Wire* wire_ = nullptr;
  std::vector<Pending> pending_;
  std::vector<std::vector<int>> last_seen_;  // [shared key][writer] -> highest seq seen
  std::uint64_t last_counter_ = 0;           // highest shared counter value seen
  bool counter_present_ = true;
};

/// Sends `stats` and returns the value of `name` (or max on failure).
std::uint64_t stat_value(Wire& wire, std::string_view name) {
  std::uint64_t found = UINT64_MAX;
  if (!wire.send("stats\r\n")) return found;
  std::string line;
  while (wire.line(line) && line != "END") {
    const std::string prefix = "STAT " + std::string(name) + " ";
    if (line.compare(0, prefix.size(), prefix) == 0) found = parse_u64(std::string_view(line).substr(prefix.size())).value_or(UINT64_MAX);
  }
  return found;
}

/// Everything one run produced, checked by the test thread.
void run_stress(const Mix& mix, std::size_t memory) {
  StressFixture f(memory, 4);
  Wire checker(Client::tcp(f.server->port()));
  // The shared counter starts at 0; incr on a missing key is NOT_FOUND, so it is made first.
  std::string line;
  REQUIRE(checker.send("add " + counter_key + " 0 0 1\r\n0\r\n"));
  REQUIRE(checker.line(line));
  REQUIRE(line == "STORED");

  std::vector<ClientLog> logs(mix.clients);
  std::latch connected(mix.clients);
  std::latch go(1);
  std::vector<std::thread> threads;
  const auto started = std::chrono::steady_clock::now();
  for (unsigned i = 0; i < mix.clients; ++i) {
    threads.emplace_back([&, i] {
      StressClient client(mix, i, logs[i]);
      client.run(f.server->port(), connected, go);
    });
  }
  connected.wait();
  // Every client holds a connection now (and the checker one): stats must say so.
  std::uint64_t open = 0;
  const bool all_open = eventually([&] { return (open = stat_value(checker, "curr_connections")) == mix.clients + 1; });
  const auto before = f.endpoint->command_stats();
  go.count_down();
  for (auto& t : threads) t.join();
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  CAPTURE(elapsed.count());
  CHECK(all_open);
  CHECK(open == mix.clients + 1);

  // Per-client failures, each with the command and reply that showed it.
  std::size_t failing = 0;
  for (const ClientLog& log : logs) {
    for (const std::string& failure : log.failures) {
      if (++failing <= 30) UNSCOPED_INFO(failure);
    }
  }
  CHECK(failing == 0);

  // Totals over all clients.
  ClientLog sum;
  std::vector<std::uint64_t> incr_results;
  std::map<std::uint64_t, std::string> cas_names;
  std::vector<std::string> cas_conflicts;
  std::set<std::uint64_t> counter_reads;
  for (const ClientLog& log : logs) {
    sum.incr_sum += log.incr_sum;
    sum.get_keys += log.get_keys;
    sum.get_hits += log.get_hits;
    sum.sets_counted += log.sets_counted;
    sum.deleted += log.deleted;
    sum.delete_missed += log.delete_missed;
    sum.incr_hits += log.incr_hits;
    sum.incr_missed += log.incr_missed;
    sum.decr_hits += log.decr_hits;
    sum.decr_missed += log.decr_missed;
    sum.out_of_memory += log.out_of_memory;
    incr_results.insert(incr_results.end(), log.incr_results.begin(), log.incr_results.end());
    counter_reads.insert(log.counter_reads.begin(), log.counter_reads.end());
    for (const auto& [cas, name] : log.cas_reads) {
      auto [it, inserted] = cas_names.emplace(cas, name);
      if (!inserted && it->second != name && cas_conflicts.size() < 10) {
        cas_conflicts.push_back("CAS " + std::to_string(cas) + " named both " + it->second + " and " + name);
      }
    }
  }
  // One CAS unique is one stored state of one item: gets must never pair it with two values.
  for (const auto& c : cas_conflicts) UNSCOPED_INFO(c);
  CHECK(cas_conflicts.empty());

  // The final state, read back in one multi-get.
  std::vector<std::string> keys{counter_key};
  for (unsigned k = 0; k < mix.shared_keys; ++k) keys.push_back(data_key(k));
  for (unsigned c = 0; c < mix.clients; ++c) keys.push_back(own_key(c));
  std::string request = "get";
  for (const auto& k : keys) request += " " + k;
  REQUIRE(checker.send(request + "\r\n"));
  std::map<std::string, std::string> final_values;
  std::uint64_t expected_bytes = 0;
  while (checker.line(line) && line != "END") {
    // VALUE <key> <flags> <bytes>
    const std::size_t a = line.find(' ', 6), b = line.find(' ', a + 1);
    REQUIRE(line.compare(0, 6, "VALUE ") == 0);
    REQUIRE(b != std::string::npos);
    const std::string key = line.substr(6, a - 6);
    const auto flags = parse_u64(std::string_view(line).substr(a + 1, b - a - 1));
    const auto size = parse_u64(std::string_view(line).substr(b + 1));
    REQUIRE(flags);
    REQUIRE(size);
    std::string value, crlf;
    REQUIRE(checker.bytes(*size, value));
    REQUIRE(checker.bytes(2, crlf));
    CHECK(crlf == "\r\n");
    if (key.compare(0, 12, "stress:data:") == 0) {
      ValueId id;
      INFO(key << " = " << value.substr(0, 60));
      CHECK(check_value(value, static_cast<std::uint32_t>(*flags), static_cast<unsigned>(std::stoul(key.substr(12))), id) ==
            "");
    }
    expected_bytes += sizeof(connkit::cache::Item) + key.size() + value.size() + 2;
    final_values[key] = value;
  }
  REQUIRE(line == "END");

  if (!mix.eviction) {
    // Every acknowledged incr is in the counter, each incr saw a value no other incr saw, and
    // every value a get returned was one some incr produced.
    REQUIRE(final_values.count(counter_key) == 1);
    CHECK(parse_u64(final_values[counter_key]) == sum.incr_sum);
    std::sort(incr_results.begin(), incr_results.end());
    CHECK(std::adjacent_find(incr_results.begin(), incr_results.end()) == incr_results.end());
    if (!incr_results.empty()) CHECK(incr_results.back() == sum.incr_sum);
    std::vector<std::uint64_t> phantom;
    for (std::uint64_t v : counter_reads) {
      if (v != 0 && !std::binary_search(incr_results.begin(), incr_results.end(), v)) phantom.push_back(v);
    }
    INFO("shared counter values read by get that no incr produced (torn reads?): " << phantom.size());
    CHECK(phantom.empty());
    for (unsigned c = 0; c < mix.clients; ++c) {
      INFO("own counter of client " << c);
      REQUIRE(final_values.count(own_key(c)) == 1);
      const std::string& v = final_values[own_key(c)];
      CHECK(parse_u64(std::string_view(v).substr(0, v.find(' '))) == logs[c].own_expected);
    }
  }

  // Every client is gone: only the checker is connected.
  std::uint64_t left = 0;
  CHECK(eventually([&] { return (left = stat_value(checker, "curr_connections")) == 1; }));
  CHECK(left == 1);
  CHECK(stat_value(checker, "total_connections") == mix.clients + 1);

  // The store holds exactly the items the final get found, and once no reply holds a
  // reference any more, its bytes are exactly theirs: no leaked or doubly counted item.
  const auto items = f.store->stats();
  CHECK(items.curr_items == final_values.size());
  CHECK(stat_value(checker, "curr_items") == final_values.size());
  std::uint64_t bytes = 0;
  CHECK(eventually([&] { return (bytes = f.store->stats().bytes) == expected_bytes; }));
  CHECK(bytes == expected_bytes);
  if (mix.eviction) {
    CHECK(items.evictions > 0);
    // The limit is checked before an allocation is counted, so workers allocating at the
    // same moment may each overshoot it by one item; more than that would be a leak.
    const std::size_t largest = sizeof(connkit::cache::Item) + 24 + mix.large_max + 2;
    CHECK(bytes <= memory + f.server->stats().threads * largest);
  }

  // Command counters: each worker counts its own, the sum is what the clients did.
  const auto after = f.endpoint->command_stats();
  INFO("out-of-memory replies to sets: " << sum.out_of_memory);
  CHECK(after.cmd_get - before.cmd_get == sum.get_keys + keys.size());
  CHECK(after.get_hits - before.get_hits == sum.get_hits + final_values.size());
  CHECK(after.get_misses - before.get_misses == sum.get_keys + keys.size() - sum.get_hits - final_values.size());
  CHECK(after.cmd_set - before.cmd_set == sum.sets_counted);
  CHECK(after.delete_hits - before.delete_hits == sum.deleted);
  CHECK(after.delete_misses - before.delete_misses == sum.delete_missed);
  CHECK(after.incr_hits - before.incr_hits == sum.incr_hits);
  CHECK(after.incr_misses - before.incr_misses == sum.incr_missed);
  CHECK(after.decr_hits - before.decr_hits == sum.decr_hits);
  CHECK(after.decr_misses - before.decr_misses == sum.decr_missed);
  CHECK(after.store_no_memory - before.store_no_memory == sum.out_of_memory);
  CHECK(!checker.stray_bytes(0ms));
}

}  // namespace

TEST_CASE("fifty concurrent clients on shared keys never see a lost update or a torn value", "[cache][stress]") {
  Mix mix;
  run_stress(mix, 64u << 20);
}

TEST_CASE("eviction under concurrent load keeps every returned value intact", "[cache][stress][eviction]") {
  Mix mix;
  mix.clients = 50;
  mix.commands = 200;
  mix.shared_keys = 200;  // ~2 MB of 10 KB values for a 1 MiB store
  mix.small_min = mix.large_min = 8000;
  mix.small_max = mix.large_max = 12000;
  mix.eviction = true;
  run_stress(mix, 1u << 20);
}
