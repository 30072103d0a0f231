#include "memcache_binary.hpp"

#include <span>
#include <string_view>
#include <utility>

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
class BinarySession final : public WorkloadSession, private SessionRing {
 public:
  BinarySession(const MemcacheWorkload& workload, std::size_t index)
      : SessionRing(workload, index), memtier_shape_(settings_.mget == 1 && !settings_.binary_getk) {}

  void append_request(std::string& out) override {
    const std::size_t slot = push_request();
    Request& request = requests_[slot];
    // memtier leaves the opaque 0 (replies are matched by order); the other shapes number
    // their requests so that a reply to the wrong one shows.
    request.opaque = memtier_shape_ ? 0 : next_opaque_++;
    if (request.set) {
      append_binary_set(out, workload_, request.key, BinaryOp::set, request.opaque);
      return;
    }
    const std::uint64_t* keys = keys_of(slot);
    if (settings_.mget == 1) {
      append_header(out, single_get_op(), key_size, 0, key_size, request.opaque);
      MemcacheWorkload::append_key(out, keys[0]);
      return;
    }
    for (std::size_t i = 0; i < settings_.mget; ++i) {
      append_header(out, BinaryOp::getkq, key_size, 0, key_size, request.opaque);
      MemcacheWorkload::append_key(out, keys[i]);
    }
    append_binary_noop(out, request.opaque);
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
    publish_counts();
    return result;
  }

 private:
  BinaryOp single_get_op() const { return settings_.binary_getk ? BinaryOp::getk : BinaryOp::get; }

  void on_response(const unsigned char* h, std::uint32_t body, ParseResult& result) {
    const Request& request = requests_[head_];
    const auto op = static_cast<BinaryOp>(h[1]);
    const std::uint16_t status = get16(h + 6);
    if (get32(h + 12) != request.opaque || get16(h + 2) + h[4] > body) wrong_ = true;
    if (request.set) {
      if (op != BinaryOp::set || status != status_ok) wrong_ = true;
      if (!wrong_) ++sets_;
      finish_request(result);
      return;
    }
    if (settings_.mget == 1) {  // every reply, hit or miss, ends a single get
      if (op != single_get_op() || (status != status_ok && status != status_not_found)) {
        wrong_ = true;
      } else if (status == status_ok) {
        on_value(h, body);
      }
      on_end();
      finish_request(result);
      return;
    }
    if (op == BinaryOp::noop) {  // GETKQ answers hits only; the NOOP ends the multi-get
      if (status != status_ok) wrong_ = true;
      on_end();
      finish_request(result);
      return;
    }
    if (op != BinaryOp::getkq || status != status_ok) {
      wrong_ = true;
    } else {
      on_value(h, body);
    }
  }

  /// Checks a successful get reply: 4 bytes of flags, then the key (GETK, GETKQ) or none
  /// (GET, whose key is the one asked for), then the value.
  void on_value(const unsigned char* h, std::uint32_t body) {
    const std::uint16_t key_length = get16(h + 2);
    const std::uint8_t extras = h[4];
    const bool keyless = static_cast<BinaryOp>(h[1]) == BinaryOp::get;
    if (wrong_ || extras != 4 || (keyless && key_length != 0)) {
      wrong_ = true;
      return;
    }
    const char* data = reinterpret_cast<const char*>(h) + binary_header_size + extras;
    std::string_view key(data, key_length);
    if (keyless) {
      key_text_.clear();
      MemcacheWorkload::append_key(key_text_, keys_of(head_)[0]);
      key = key_text_;
    }
    const std::string_view value(data + key_length, body - extras - key_length);
    on_hit(key, value, get32(h + binary_header_size) == 0);
  }

  const bool memtier_shape_;  ///< SET and single-key GET, as memtier sends them
  std::uint32_t next_opaque_ = 1;
  std::string key_text_;      ///< the key a GET reply is for (the reply does not carry it)
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
