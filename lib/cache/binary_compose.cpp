#include "binary_compose.hpp"

#include <cstring>
#include <utility>

#include "value_reply.hpp"

namespace connkit::cache::detail {
namespace {

char* put16(char* p, std::uint16_t v) noexcept {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
  return p + 2;
}

char* put32(char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
  return p + 4;
}

char* put(char* p, std::string_view bytes) noexcept {
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

BinaryResponse response_to(const Request& request, BinaryStatus status) noexcept {
  BinaryResponse r;
  r.opcode = request.binary.opcode;
  r.status = status;
  r.opaque = request.binary.opaque;
  return r;
}

}  // namespace

char* write_binary_header(char* p, const BinaryResponse& r) noexcept {
  p[0] = static_cast<char>(binary_response_magic);
  p[1] = static_cast<char>(r.opcode);
  put16(p + 2, r.key_length);
  p[4] = static_cast<char>(r.extras_length);
  p[5] = 0;  // PROTOCOL_BINARY_RAW_BYTES
  put16(p + 6, static_cast<std::uint16_t>(r.status));
  put32(p + 8, r.body_length);
  // The opaque goes back byte for byte as it came (memcached copies it unconverted).
  put32(p + 12, r.opaque);
  put32(p + 16, static_cast<std::uint32_t>(r.cas >> 32));
  put32(p + 20, static_cast<std::uint32_t>(r.cas));
  return p + binary_header_size;
}

void bin_response(Connection& conn, const Request& request, BinaryStatus status, std::string_view extras,
                  std::string_view key, std::string_view value, std::uint64_t cas) {
  BinaryResponse r = response_to(request, status);
  r.extras_length = static_cast<std::uint8_t>(extras.size());
  r.key_length = static_cast<std::uint16_t>(key.size());
  r.body_length = static_cast<std::uint32_t>(extras.size() + key.size() + value.size());
  r.cas = cas;
  const std::size_t size = binary_header_size + r.body_length;
  char* const start = conn.reply_space(size).data();
  put(put(put(write_binary_header(start, r), extras), key), value);
  conn.commit_reply(size);
}

void bin_item(Connection& conn, const Request& request, Item& item, bool with_value, std::uint64_t cas) {
  const std::string_view key = request.binary.with_key ? item.key() : std::string_view();
  const std::span<const char> value = with_value ? std::as_const(item).value() : std::span<const char>();
  BinaryResponse r = response_to(request, BinaryStatus::success);
  r.extras_length = 4;
  r.key_length = static_cast<std::uint16_t>(key.size());
  r.body_length = static_cast<std::uint32_t>(4 + key.size() + value.size());
  r.cas = cas;
  const bool copy = value.size() <= copy_value_limit;
  const std::size_t size = binary_header_size + 4 + key.size() + (copy ? value.size() : 0);
  char* const start = conn.reply_space(size).data();
  char* p = put(put32(write_binary_header(start, r), item.flags()), key);
  if (copy) put(p, {value.data(), value.size()});
  conn.commit_reply(size);
  if (!copy) conn.reply_ref(value, item.owner());
}

void bin_stat_lines(Connection& conn, const Request& request, std::string_view lines) {
  constexpr std::string_view prefix = "STAT ";
  while (!lines.empty()) {
    const std::size_t end = lines.find("\r\n");
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    if (line.substr(0, prefix.size()) != prefix) continue;
    line.remove_prefix(prefix.size());
    const std::size_t space = line.find(' ');
    const std::string_view name = line.substr(0, space);
    const std::string_view value = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    bin_response(conn, request, BinaryStatus::success, {}, name, value);
  }
}

}  // namespace connkit::cache::detail
