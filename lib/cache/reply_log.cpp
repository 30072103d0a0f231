#include "reply_log.hpp"

#include <cstdio>

namespace connkit::cache::detail {
namespace {

// The replies logged are short (a status line, a key): memcached prints them whole, and a
// line is cut only past this.
constexpr int max_logged = 512;

void log_line(const Connection& conn, const char* what, std::string_view text) {
  char line[600];
  std::snprintf(line, sizeof line, ">%d %s%.*s", conn.native_handle(), what,
                static_cast<int>(text.size() < max_logged ? text.size() : max_logged), text.data());
  conn.log(2, line);
}

}  // namespace

void log_reply(const Connection& conn, std::string_view text, bool noreply) {
  log_line(conn, noreply ? "NOREPLY " : "", text);
}

void log_sending_key(const Connection& conn, std::string_view key) { log_line(conn, "sending key ", key); }

}  // namespace connkit::cache::detail
