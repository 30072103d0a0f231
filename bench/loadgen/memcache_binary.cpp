#include "memcache_binary.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "memcache_workload.hpp"

namespace loadgen {
namespace {

constexpr unsigned char request_magic = 0x80;
constexpr unsigned char response_magic = 0x81;
constexpr std::uint16_t status_ok = 0x0000;
constexpr std::uint16_t status_not_found = 0x0001;
constexpr std::size_t key_size = 32;
constexpr std::uint32_t max_body = 1u << 30;

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

std::uint16_t get16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

std::uint32_t get32(const unsigned char* p) {
  return static_cast<std::uint32_t>(get16(p)) << 16 | get16(p + 2);
}

/// Appends a request header.
void append_header(std::string& out, BinaryOp op, std::uint16_t key_length, std::uint8_t extras_length,
                   std::uint32_t body_length, std::uint32_t opaque) {
  out.push_back(static_cast<char>(request_magic));
  out.push_back(static_cast<char>(op));
  put16(out, key_length);
  out.push_back(static_cast<char>(extras_length));
  out.push_back(0);  // data type
  put16(out, 0);     // vbucket
  put32(out, body_length);
  put32(out, opaque);
  put32(out, 0);  // cas
  put32(out, 0);
}

/// One connection in the binary protocol; replies are checked field by field.
class BinarySession final : public WorkloadSession {
 public:
  BinarySession(const MemcacheWorkload& workload, std::size_t index)
      : workload_(workload),
        settings_(workload.settings()),
        random_(0x9e3779b97f4a7c15ULL * (index + 1)),
        requests_(settings_.depth),
        keys_(settings_.depth * settings_.mget) {}

  void append_request(std::string& out) override {
    const std::size_t slot = (head_ + in_flight_) % requests_.size();
    ++in_flight_;
    Request& request = requests_[slot];
    std::uint64_t* keys = keys_.data() + slot * settings_.mget;
    request.set = workload_.draw(random_, request.key, keys);
    request.opaque = next_opaque_++;
    if (request.set) {
      append_binary_set(out, workload_, request.key, BinaryOp::set, request.opaque);
      return;
    }
    const BinaryOp op = settings_.mget == 1 ? BinaryOp::getk : BinaryOp::getkq;
    for (std::size_t i = 0; i < settings_.mget; ++i) {
      append_header(out, op, key_size, 0, key_size, request.opaque);
      MemcacheWorkload::append_key(out, keys[i]);
    }
    if (op == BinaryOp::getkq) append_binary_noop(out, request.opaque);
  }

  ParseResult consume(std::span<const char> input) override {
    ParseResult result;
    std::size_t pos = 0;
    const auto* bytes = reinterpret_cast<const unsigned char*>(input.data());
    while (input.size() - pos >= binary_header_size) {
      const unsigned char* h = bytes + pos;
      const std::uint32_t body = get32(h + 8);
      if (h[0] != response_magic || body > max_body) {
        result.fatal = true;
        result.error = "not a binary response header";
        break;
      }
      if (input.size() - pos < binary_header_size + body) break;
      if (in_flight_ == 0) {
        result.fatal = true;
        result.error = "server sent a response no request asked for";
        break;
      }
      on_response(h, body, result);
      pos += binary_header_size + body;
    }
    result.consumed = pos;
    MemcacheCounters& counters = workload_.counters();
    counters.sets.fetch_add(std::exchange(sets_, 0), std::memory_order_relaxed);
    counters.hits.fetch_add(std::exchange(hits_, 0), std::memory_order_relaxed);
    counters.misses.fetch_add(std::exchange(misses_, 0), std::memory_order_relaxed);
    counters.errors.fetch_add(std::exchange(errors_, 0), std::memory_order_relaxed);
    return result;
  }

 private:
  struct Request {
    bool set = false;
    std::uint64_t key = 0;
    std::uint32_t opaque = 0;
  };

  void on_response(const unsigned char* h, std::uint32_t body, ParseResult& result) {
    const Request& request = requests_[head_];
    const auto op = static_cast<BinaryOp>(h[1]);
    const std::uint16_t key_length = get16(h + 2);
    const std::uint8_t extras = h[4];
    const std::uint16_t status = get16(h + 6);
    if (get32(h + 12) != request.opaque || key_length + extras > body) wrong_ = true;
    if (request.set) {
      if (op != BinaryOp::set || status != status_ok) wrong_ = true;
      if (!wrong_) ++sets_;
      finish(result);
      return;
    }
    if (op == BinaryOp::noop || (op == BinaryOp::getk && status == status_not_found)) {
      misses_ += settings_.mget - next_key_;
      finish(result);
      return;
    }
    const std::string_view key(reinterpret_cast<const char*>(h) + binary_header_size + extras, key_length);
    const std::string_view value(key.data() + key_length, body - extras - key_length);
    check_value(op, status, extras, key, value);
    if (op == BinaryOp::getk) {
      misses_ += settings_.mget - next_key_;
      finish(result);
    }
  }

  void check_value(BinaryOp op, std::uint16_t status, std::uint8_t extras, std::string_view key,
                   std::string_view value) {
    const BinaryOp expected = settings_.mget == 1 ? BinaryOp::getk : BinaryOp::getkq;
    const std::uint64_t* keys = keys_.data() + head_ * settings_.mget;
    std::size_t found = settings_.mget;
    std::uint64_t n = 0;
    if (MemcacheWorkload::key_number(key, n)) {
      found = static_cast<std::size_t>(std::find(keys + next_key_, keys + settings_.mget, n) - keys);
    }
    if (op != expected || status != status_ok || extras != 4 || found == settings_.mget) {
      wrong_ = true;
      return;
    }
    misses_ += found - next_key_;
    next_key_ = found + 1;
    ++hits_;
    if (value.size() == settings_.value_size ? !workload_.value_matches(value, key, n) : settings_.prefill) {
      wrong_ = true;
    }
  }

  void finish(ParseResult& result) {
    if (wrong_) {
      ++errors_;
      ++result.mismatches;
    }
    wrong_ = false;
    next_key_ = 0;
    head_ = (head_ + 1) % requests_.size();
    --in_flight_;
    ++result.completed;
  }

  const MemcacheWorkload& workload_;
  const MemcacheSettings& settings_;
  std::uint64_t random_;
  std::vector<Request> requests_;    ///< ring of in-flight requests
  std::vector<std::uint64_t> keys_;  ///< keys of the gets in flight, `mget` per ring slot
  std::size_t head_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t next_key_ = 0;
  std::uint32_t next_opaque_ = 1;
  bool wrong_ = false;
  std::uint64_t sets_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace

void append_binary_set(std::string& out, const MemcacheWorkload& workload, std::uint64_t n, BinaryOp op,
                       std::uint32_t opaque) {
  const auto value_size = static_cast<std::uint32_t>(workload.settings().value_size);
  append_header(out, op, key_size, 8, 8 + key_size + value_size, opaque);
  put32(out, 0);  // flags
  put32(out, 0);  // exptime
  MemcacheWorkload::append_key(out, n);
  workload.append_value(out, n);
}

void append_binary_noop(std::string& out, std::uint32_t opaque) { append_header(out, BinaryOp::noop, 0, 0, 0, opaque); }

bool is_binary_noop_ok(const unsigned char* header) {
  return header[0] == response_magic && static_cast<BinaryOp>(header[1]) == BinaryOp::noop &&
         get16(header + 6) == status_ok && get32(header + 8) == 0;
}

std::unique_ptr<WorkloadSession> make_binary_session(const MemcacheWorkload& workload, std::size_t index) {
  return std::make_unique<BinarySession>(workload, index);
}

}  // namespace loadgen
