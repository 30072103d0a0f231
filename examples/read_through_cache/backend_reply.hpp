#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace connkit::examples {

/// A memcached text-protocol server's reply to `get <key>`, parsed.
struct BackendReply {
  enum class Status : std::uint8_t {
    need_more,  ///< not all of it has arrived yet
    found,      ///< "VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n"
    not_found,  ///< "END\r\n"
    bad,        ///< anything else (an error line, another key, bytes after END)
  };
  Status status = Status::need_more;
  std::uint32_t flags = 0;  ///< found: the client flags
  std::string_view value;   ///< found: the data, a view into the parsed input
};

/// Parses `in`, everything received so far for one `get <key>`. Pure: no I/O, no allocation.
inline BackendReply parse_get_reply(std::string_view in, std::string_view key) noexcept {
  using Status = BackendReply::Status;
  auto only = [](Status status) {
    BackendReply r;
    r.status = status;
    return r;
  };
  constexpr std::string_view end_line = "END\r\n";
  constexpr std::size_t max_header = 6 + 250 + 2 * 21 + 2;  // "VALUE " key, flags and bytes, CRLF
  constexpr std::size_t max_value = std::size_t{1} << 30;    // memcached's largest -I
  const std::size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) return only(in.size() > max_header ? Status::bad : Status::need_more);
  const std::string_view line = in.substr(0, eol);
  if (line == "END") return only(in.size() == end_line.size() ? Status::not_found : Status::bad);
  // "VALUE <key> <flags> <bytes>"
  std::string_view rest = line;
  auto token = [&rest]() {
    const std::size_t space = rest.find(' ');
    const std::string_view t = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    return t;
  };
  auto number = [](std::string_view t, auto& out) {
    const auto [stop, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return !t.empty() && ec == std::errc() && stop == t.data() + t.size();
  };
  BackendReply reply;
  std::size_t bytes = 0;
  if (token() != "VALUE" || token() != key || !number(token(), reply.flags) || !number(token(), bytes) ||
      !rest.empty() || bytes > max_value) {
    return only(Status::bad);
  }
  const std::size_t data = eol + 2;
  if (in.size() - data < bytes + 2 + end_line.size()) return only(Status::need_more);
  if (in.substr(data + bytes) != "\r\nEND\r\n") return only(Status::bad);
  reply.status = Status::found;
  reply.value = in.substr(data, bytes);
  return reply;
}

}  // namespace connkit::examples
