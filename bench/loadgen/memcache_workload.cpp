#include <utility>  // before Boost.Asio: Boost 1.74's headers use std::exchange without it

#include "memcache_workload.hpp"

#include "memcache_binary.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace loadgen {

namespace {

constexpr std::size_t letters = 26;
constexpr std::size_t key_size = 32;
constexpr std::string_view key_prefix = "key:";
constexpr std::size_t key_digits = key_size - key_prefix.size();
constexpr std::size_t max_line = 1024;       // a reply line without \n beyond this is garbage
constexpr std::size_t prefill_batch = 1000;  // noreply sets per write while prefilling

/// Parses all of `text` as an unsigned decimal number.
bool parse_unsigned(std::string_view text, std::uint64_t& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

/// Splits off the next space-separated word of `rest`.
std::string_view next_word(std::string_view& rest) {
  const std::size_t end = std::min(rest.find(' '), rest.size());
  const std::string_view word = rest.substr(0, end);
  rest.remove_prefix(std::min(end + 1, rest.size()));
  return word;
}

}  // namespace

MemcacheWorkload::MemcacheWorkload(const MemcacheSettings& settings) : settings_(settings) {
  settings_.depth = std::max<std::size_t>(settings_.depth, 1);
  settings_.mget = std::max<std::size_t>(settings_.mget, 1);
  alphabet_.resize(settings_.value_size + letters);
  for (std::size_t i = 0; i < alphabet_.size(); ++i) alphabet_[i] = static_cast<char>('a' + i % letters);
  set_suffix_ = " 0 0 " + std::to_string(settings_.value_size) + "\r\n";
}

std::string MemcacheWorkload::describe() const {
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.3g", settings_.set_ratio);
  return "memcache: " + std::to_string(settings_.key_space) + " keys of 32 bytes, " +
         std::to_string(settings_.value_size) + "-byte values, set ratio " + ratio + ", gets of " +
         std::to_string(settings_.mget) + " key(s)" + (settings_.prefill ? ", prefilled" : "") +
         "; every reply checked";
}

void MemcacheWorkload::append_key(std::string& out, std::uint64_t n) {
  const std::size_t start = out.size();
  out.append(key_prefix);
  out.resize(start + key_size);
  for (std::size_t i = start + key_size; i > start + key_prefix.size(); --i) {
    out[i - 1] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
}

bool MemcacheWorkload::key_number(std::string_view key, std::uint64_t& n) {
  if (key.size() != key_size || !key.starts_with(key_prefix)) return false;
  const std::string_view digits = key.substr(key_prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return parse_unsigned(digits, n);
}

void MemcacheWorkload::append_value(std::string& out, std::uint64_t n) const {
  const std::size_t digits = std::min(settings_.value_size, key_digits);
  const std::size_t start = out.size();
  append_key(out, n);
  out.erase(start, key_prefix.size());
  out.resize(start + digits);
  out.append(alphabet_, n % letters + digits, settings_.value_size - digits);
}

bool MemcacheWorkload::value_matches(std::string_view data, std::string_view key, std::uint64_t n) const {
  if (data.size() != settings_.value_size) return false;
  const std::size_t digits = std::min(settings_.value_size, key_digits);
  return data.substr(0, digits) == key.substr(key_prefix.size(), digits) &&
         data.substr(digits) == std::string_view(alphabet_).substr(n % letters + digits, data.size() - digits);
}

void MemcacheWorkload::prepare(const std::string& host, std::uint16_t port) const {
  if (!settings_.prefill) return;
  using boost::asio::ip::tcp;
  const auto begin = std::chrono::steady_clock::now();
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  boost::asio::connect(socket, resolver.resolve(host, std::to_string(port)));
  socket.set_option(tcp::no_delay(true));
  const std::string noreply_suffix =
      " 0 0 " + std::to_string(settings_.value_size) + " noreply\r\n";
  std::string batch;
  for (std::uint64_t n = 0; n < settings_.key_space;) {
    batch.clear();
    for (std::size_t i = 0; i < prefill_batch && n < settings_.key_space; ++i, ++n) {
      if (settings_.binary) {
        append_binary_set(batch, *this, n, BinaryOp::setq, 0);
        continue;
      }
      batch.append("set ");
      append_key(batch, n);
      batch.append(noreply_suffix);
      append_value(batch, n);
      batch.append("\r\n");
    }
    boost::asio::write(socket, boost::asio::buffer(batch));
  }
  if (settings_.binary) {
    // A failed quiet set answers before the noop; success answers nothing.
    batch.clear();
    append_binary_noop(batch, 0);
    boost::asio::write(socket, boost::asio::buffer(batch));
    unsigned char header[binary_header_size];
    boost::asio::read(socket, boost::asio::buffer(header));
    if (!is_binary_noop_ok(header)) throw std::runtime_error("prefill: a binary quiet set failed (opcode " +
                                                             std::to_string(header[1]) + ")");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    std::printf("prefill:    %llu keys set in %.2f s (binary)\n", static_cast<unsigned long long>(settings_.key_space),
                seconds);
    std::fflush(stdout);
    return;
  }
  boost::asio::write(socket, boost::asio::buffer(std::string_view("version\r\n")));
  std::string reply;
  const std::size_t length = boost::asio::read_until(socket, boost::asio::dynamic_buffer(reply), "\r\n");
  const std::string_view line = std::string_view(reply).substr(0, length - 2);
  if (!line.starts_with("VERSION ") || reply.size() != length) {
    throw std::runtime_error("prefill: expected only a VERSION line after the noreply sets, got '" +
                             reply.substr(0, std::min<std::size_t>(reply.size(), 200)) + "'");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::printf("prefill:    %llu keys set in %.2f s (server: %.*s)\n",
              static_cast<unsigned long long>(settings_.key_space), seconds,
              static_cast<int>(line.size() - 8), line.data() + 8);
  std::fflush(stdout);
}

std::unique_ptr<WorkloadSession> MemcacheWorkload::make_session(std::size_t index) const {
  if (settings_.binary) return make_binary_session(*this, index);
  return std::make_unique<MemcacheSession>(*this, index);
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool MemcacheWorkload::draw(std::uint64_t& random, std::uint64_t& set_key, std::uint64_t* keys) const {
  const double draw = static_cast<double>(splitmix64(random) >> 11) * 0x1.0p-53;
  if (draw < settings_.set_ratio) {
    set_key = splitmix64(random) % settings_.key_space;
    return true;
  }
  for (std::size_t i = 0; i < settings_.mget; ++i) {
    std::uint64_t key = 0;
    do {
      key = splitmix64(random) % settings_.key_space;
    } while (std::find(keys, keys + i, key) != keys + i);
    keys[i] = key;
  }
  return false;
}

std::string MemcacheWorkload::summary() const {
  const std::uint64_t hits = counters_.hits.load();
  const std::uint64_t misses = counters_.misses.load();
  const double ratio = hits + misses != 0 ? 100.0 * static_cast<double>(hits) / static_cast<double>(hits + misses)
                                          : 0.0;
  char line[256];
  std::snprintf(line, sizeof line, "memcache:   sets=%llu get keys: hits=%llu misses=%llu (%.1f%% hits) errors=%llu (warm-up included)",
                static_cast<unsigned long long>(counters_.sets.load()), static_cast<unsigned long long>(hits),
                static_cast<unsigned long long>(misses), ratio,
                static_cast<unsigned long long>(counters_.errors.load()));
  return line;
}

namespace {

// splitmix64 walks its state in steps of 0x9e3779b97f4a7c15, so seeding connection i with
// (i + 1) times that step made each connection replay its neighbour's keys one request
// later (a read-through cache saw 50 clients ask for the same keys). A mixed seed starts
// each connection at an unrelated point of the sequence.
std::uint64_t stream_seed(std::size_t index) {
  std::uint64_t state = 0x2545f4914f6cdd1dULL ^ (0x9e3779b97f4a7c15ULL * (index + 1));
  splitmix64(state);
  return splitmix64(state);
}

}  // namespace

SessionRing::SessionRing(const MemcacheWorkload& workload, std::size_t index)
    : workload_(workload),
      settings_(workload.settings()),
      random_(stream_seed(index)),
      requests_(settings_.depth),
      keys_(settings_.depth * settings_.mget) {}

std::size_t SessionRing::push_request() {
  const std::size_t slot = (head_ + in_flight_) % requests_.size();
  ++in_flight_;
  Request& request = requests_[slot];
  request.set = workload_.draw(random_, request.key, keys_of(slot));
  return slot;
}

void SessionRing::on_hit(std::string_view key, std::string_view data, bool flags_ok) {
  std::uint64_t n = 0;
  const std::uint64_t* keys = keys_of(head_);
  std::size_t found = settings_.mget;
  if (MemcacheWorkload::key_number(key, n)) {
    found = static_cast<std::size_t>(std::find(keys + next_key_, keys + settings_.mget, n) - keys);
  }
  if (found == settings_.mget) {  // not a key of this get, or out of order
    wrong_ = true;
    return;
  }
  misses_ += found - next_key_;
  next_key_ = found + 1;
  ++hits_;
  if (data.size() == settings_.value_size) {
    if (!workload_.value_matches(data, key, n) || (settings_.prefill && !flags_ok)) wrong_ = true;
  } else if (settings_.prefill) {
    wrong_ = true;  // every key was set with -V bytes; without prefill, other sizes may be left from before
  }
}

void SessionRing::finish_request(ParseResult& result) {
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

void SessionRing::publish_counts() {
  MemcacheCounters& counters = workload_.counters();
  if (sets_ != 0) counters.sets.fetch_add(std::exchange(sets_, 0), std::memory_order_relaxed);
  if (hits_ != 0) counters.hits.fetch_add(std::exchange(hits_, 0), std::memory_order_relaxed);
  if (misses_ != 0) counters.misses.fetch_add(std::exchange(misses_, 0), std::memory_order_relaxed);
  if (errors_ != 0) counters.errors.fetch_add(std::exchange(errors_, 0), std::memory_order_relaxed);
}

void MemcacheSession::append_request(std::string& out) {
  const std::size_t slot = push_request();
  const Request& request = requests_[slot];
  if (request.set) {
    out.append("set ");
    MemcacheWorkload::append_key(out, request.key);
    out.append(workload_.set_suffix());
    workload_.append_value(out, request.key);
    out.append("\r\n");
    return;
  }
  const std::uint64_t* keys = keys_of(slot);
  out.append("get");
  for (std::size_t i = 0; i < settings_.mget; ++i) {
    out.push_back(' ');
    MemcacheWorkload::append_key(out, keys[i]);
  }
  out.append("\r\n");
}

bool MemcacheSession::on_value(std::string_view line, std::string_view data, std::string& error) {
  std::string_view rest = line.substr(6);  // after "VALUE "
  const std::string_view key = next_word(rest);
  std::uint64_t flags = 0;
  std::uint64_t bytes = 0;
  if (!parse_unsigned(next_word(rest), flags) || !parse_unsigned(next_word(rest), bytes) ||
      bytes != data.size()) {
    error = "malformed VALUE line '" + std::string(line) + "'";
    return false;
  }
  on_hit(key, data, flags == 0);
  return true;
}

ParseResult MemcacheSession::consume(std::span<const char> input) {
  ParseResult result;
  const std::string_view text(input.data(), input.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (in_flight_ == 0) {
      result.fatal = true;
      result.error = "server sent bytes no request asked for";
      break;
    }
    const std::size_t newline = text.find('\n', pos);
    if (newline == std::string_view::npos) {
      if (text.size() - pos > max_line) {
        result.fatal = true;
        result.error = "reply line longer than " + std::to_string(max_line) + " bytes";
      }
      break;
    }
    if (newline == pos || text[newline - 1] != '\r') {
      result.fatal = true;
      result.error = "reply line not ending in \\r\\n";
      break;
    }
    const std::string_view line = text.substr(pos, newline - 1 - pos);
    const std::size_t after_line = newline + 1;
    const Request& request = requests_[head_];
    if (request.set) {
      if (line == "STORED") {
        ++sets_;
      } else {
        wrong_ = true;
      }
      finish_request(result);
      pos = after_line;
      continue;
    }
    if (line.starts_with("VALUE ")) {
      std::string_view rest = line.substr(6);
      next_word(rest);
      next_word(rest);
      std::uint64_t bytes = 0;
      if (!parse_unsigned(next_word(rest), bytes) || bytes > (std::uint64_t{1} << 30)) {
        result.fatal = true;
        result.error = "malformed VALUE line '" + std::string(line) + "'";
        break;
      }
      const std::size_t block_end = after_line + static_cast<std::size_t>(bytes) + 2;
      if (block_end > text.size()) break;  // wait for the rest of the block
      if (text.substr(block_end - 2, 2) != "\r\n") {
        result.fatal = true;
        result.error = "VALUE data not followed by \\r\\n";
        break;
      }
      if (!on_value(line, text.substr(after_line, static_cast<std::size_t>(bytes)), result.error)) {
        result.fatal = true;
        break;
      }
      pos = block_end;
      continue;
    }
    if (line == "END") {
      on_end();
    } else {
      wrong_ = true;  // ERROR, CLIENT_ERROR, SERVER_ERROR or anything else ends the request
    }
    finish_request(result);
    pos = after_line;
  }
  result.consumed = pos;
  publish_counts();
  return result;
}

}  // namespace loadgen
