#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include <connkit/connkit.hpp>

namespace connkit::examples {

/// Limits of one LineHandler.
struct LineLimits {
  std::size_t max_line = 2048;       ///< longest command line (memcached's 2048)
  std::size_t max_body = 64 * 1024;  ///< largest ECHO/PUT body
};

/// A small request/response line protocol that exercises every part of the state machine:
///
///   PING\r\n                     -> PONG\r\n
///   ECHO <len>\r\n<data>\r\n     -> OK <len>\r\n<data>\r\n      (body in the read buffer: nread)
///   PUT <len>\r\n<data>\r\n      -> STORED\r\n                  (body read into the handler: nread)
///   GET\r\n                      -> VALUE <len>\r\n<data>\r\n | NOT_FOUND\r\n
///   DROP <len>\r\n<data>         -> DROPPED\r\n                 (body discarded: swallow)
///   BYE\r\n                      -> BYE\r\n, then the server closes (write_and_close)
///   QUIT\r\n                     -> the server closes at once
/// Errors follow memcached: ERROR, CLIENT_ERROR bad command line format, CLIENT_ERROR bad
/// data chunk, SERVER_ERROR object too large (the body is swallowed, the connection lives),
/// CLIENT_ERROR line too long (then close). The PUT value is per connection.
class LineHandler final : public ProtocolHandler {
 public:
  explicit LineHandler(LineLimits limits = {}) : limits_(limits) { value_.reserve(limits_.max_body + 2); }

  Action on_input(Connection& conn, std::span<const char> input) override {
    const std::string_view text(input.data(), input.size());
    const std::size_t eol = text.find('\n');
    if (eol == std::string_view::npos) {
      if (text.size() > limits_.max_line) return line_too_long(conn);
      return Action::need_more();
    }
    const std::size_t used = eol + 1;
    std::string_view line = text.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t space = line.find(' ');
    const std::string_view command = line.substr(0, space);
    const std::string_view argument = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);

    if (command == "PING" && argument.empty()) return static_reply(conn, "PONG\r\n", used);
    if (command == "GET" && argument.empty()) {
      if (!has_value_) return static_reply(conn, "NOT_FOUND\r\n", used);
      put_header(conn, "VALUE ", value_.size());
      conn.reply(std::string_view(value_.data(), value_.size()));
      conn.reply_ref(crlf);
      return Action::consumed(used);
    }
    if (command == "BYE" && argument.empty()) {
      conn.reply_ref(literal("BYE\r\n"));
      return Action::write_and_close(used);
    }
    if (command == "QUIT" && argument.empty()) return Action::close();
    if (command == "ECHO" || command == "PUT" || command == "DROP") {
      std::size_t length = 0;
      const auto [end, ec] = std::from_chars(argument.data(), argument.data() + argument.size(), length);
      if (argument.empty() || ec != std::errc() || end != argument.data() + argument.size()) {
        return static_reply(conn, "CLIENT_ERROR bad command line format\r\n", used);
      }
      if (command == "DROP") {
        conn.reply_ref(literal("DROPPED\r\n"));
        return Action::swallow(used, length);
      }
      if (length > limits_.max_body) {
        conn.reply_ref(literal("SERVER_ERROR object too large\r\n"));
        return Action::swallow(used, length + 2);
      }
      if (command == "ECHO") {
        pending_ = Pending::echo;
        return Action::read_body(used, length + 2);
      }
      pending_ = Pending::put;
      value_.resize(length + 2);  // within the capacity reserved up front: no allocation
      return Action::read_body_into(used, std::span<char>(value_));
    }
    return static_reply(conn, "ERROR\r\n", used);
  }

  Action on_body(Connection& conn, std::span<char> body) override {
    const Pending pending = pending_;
    pending_ = Pending::none;
    const std::size_t n = body.size();
    if (n < 2 || body[n - 2] != '\r' || body[n - 1] != '\n') {
      if (pending == Pending::put) has_value_ = false;
      conn.reply_ref(literal("CLIENT_ERROR bad data chunk\r\n"));
      return Action::consumed(0);
    }
    if (pending == Pending::echo) {
      put_header(conn, "OK ", n - 2);
      conn.reply(std::string_view(body.data(), n - 2));
      conn.reply_ref(crlf);
    } else {
      value_.resize(n - 2);
      has_value_ = true;
      conn.reply_ref(literal("STORED\r\n"));
    }
    return Action::consumed(0);
  }

  Action on_input_too_large(Connection& conn) override { return line_too_long(conn); }

  void on_close(Connection&, boost::system::error_code) noexcept override {
    pending_ = Pending::none;
    has_value_ = false;
    value_.clear();
  }

  std::string_view protocol_name() const noexcept override { return "line"; }

 private:
  enum class Pending : unsigned char { none, echo, put };

  static constexpr std::span<const char> literal(std::string_view s) noexcept { return {s.data(), s.size()}; }
  static constexpr std::string_view crlf_text = "\r\n";
  static constexpr std::span<const char> crlf{crlf_text.data(), crlf_text.size()};

  static Action static_reply(Connection& conn, std::string_view reply, std::size_t used) {
    conn.reply_ref(literal(reply));  // static bytes: queued by reference, never copied
    return Action::consumed(used);
  }

  static Action line_too_long(Connection& conn) {
    conn.reply_ref(literal("CLIENT_ERROR line too long\r\n"));
    return Action::write_and_close();
  }

  /// "<prefix><n>\r\n", formatted in place in the connection's write buffer.
  static void put_header(Connection& conn, std::string_view prefix, std::size_t n) {
    std::span<char> room = conn.reply_space(prefix.size() + 24);
    char* p = std::copy(prefix.begin(), prefix.end(), room.data());
    p = std::to_chars(p, room.data() + room.size(), n).ptr;
    *p++ = '\r';
    *p++ = '\n';
    conn.commit_reply(static_cast<std::size_t>(p - room.data()));
  }

  LineLimits limits_;
  Pending pending_ = Pending::none;
  bool has_value_ = false;
  std::vector<char> value_;
};

}  // namespace connkit::examples
