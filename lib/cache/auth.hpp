#pragma once

// Authentication for the cache endpoint, off by default (docs/cache.md, "Authentication"):
// the user tables memcached reads and the ascii protocol's login (-Y). The binary protocol's
// SASL exchange is in binary_sasl.hpp. Whether a connection has logged in is the core's
// (Connection::authenticated(), ListenerOptions::require_auth), so are the counts
// (auth_cmds, auth_errors).

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <connkit/connection.hpp>
#include <connkit/protocol_handler.hpp>

namespace connkit::cache::detail {

/// One `user:password` line.
struct Credential {
  std::string user;
  std::string password;
};

/// Reads `user:password` lines as memcached's authfile.c does: the user ends at the first
/// ':', the password at the first '\r', '\n' or NUL (so it may hold ':'); a line with no ':'
/// (an empty line, a comment) makes the whole file malformed; the last line needs no
/// newline; an empty file has no users. False if malformed.
bool parse_credentials(std::string_view text, std::vector<Credential>& out);

/// Compares in time that depends on the lengths only, not on where the bytes differ
/// (memcached's safe_memcmp).
bool same_secret(std::string_view a, std::string_view b) noexcept;

/// The users of the ascii authentication file (-Y). Replaced whole by a successful load();
/// read by every worker. Thread-safe.
class AuthFile {
 public:
  /// Reads `path` (memcached's authfile_load). On success the new users replace the old;
  /// on failure the old stay and memcached's message is returned (empty on success).
  std::string load(const std::string& path);
  /// Whether `user` with `password` is in the table.
  bool check(std::string_view user, std::string_view password) const;

 private:
  using Users = std::vector<Credential>;
  mutable std::mutex mutex_;               // guards the pointer; a check holds its own copy
  std::shared_ptr<const Users> users_ = std::make_shared<const Users>();
};

/// memcached's SASL password database (MEMCACHED_SASL_PWDB, sasl_defs.c): the file is read
/// at each attempt, so edits take effect at once. The first line whose user matches
/// decides; its password may be followed by ':' and more fields. A user and password longer
/// than memcached's 256-byte entry fail, as do an unreadable file and an empty `path`.
bool check_sasl_pwdb(const std::string& path, std::string_view user, std::string_view password);

/// SASL PLAIN's message (RFC 4616): [authzid] NUL authcid NUL passwd.
struct PlainMessage {
  std::string_view authzid;
  std::string_view user;
  std::string_view password;
};

/// Splits a PLAIN message; false unless it has exactly two NULs.
bool parse_plain(std::string_view message, PlainMessage& out);

/// Longest line without "\n" the ascii login waits for before closing (memcached's 2048).
inline constexpr std::size_t ascii_auth_max_line = 2048;
/// Largest `user password` value (with its "\r\n") the ascii login takes: memcached holds it
/// in its 16 KB read buffer and closes the connection when it cannot fit.
inline constexpr std::size_t ascii_auth_max_value = 16384;

/// memcached's ascii login (proto_text.c, try_read_command_asciiauth) for a connection not
/// authenticated yet: every command but `set <key> <flags> <exptime> <bytes>` answers
/// `CLIENT_ERROR unauthenticated`; a set's value `<user> <password>` answers `STORED` (and
/// stores nothing) when `users` knows them, `CLIENT_ERROR authentication failure` when not,
/// `CLIENT_ERROR bad authentication token format` without two tokens, and `CLIENT_ERROR bad
/// command line termination` without its "\r\n". Each attempt is recorded on `conn`.
/// Waits until the line and the value are buffered (need_more), within the two bounds above.
Action ascii_login(Connection& conn, std::span<const char> input, const AuthFile& users);

}  // namespace connkit::cache::detail
