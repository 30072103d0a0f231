#include "auth.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "numbers.hpp"

namespace connkit::cache::detail {
namespace {

/// memcached's fgets() buffer for one entry (authfile.c and sasl_defs.c, MAX_ENTRY_LEN).
constexpr std::size_t max_entry_length = 256;
/// A bigger auth file is refused as memcached refuses one it cannot allocate for.
constexpr std::size_t max_auth_file_size = 16u << 20;

enum class ReadFile : std::uint8_t { ok, open_failed, too_large };

ReadFile read_file(const std::string& path, std::string& out, int& error) {
  error = 0;
  std::FILE* f = path.empty() ? nullptr : std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    error = path.empty() ? ENOENT : errno;
    return ReadFile::open_failed;
  }
  out.clear();
  char chunk[4096];
  std::size_t n = 0;
  ReadFile result = ReadFile::ok;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (out.size() + n > max_auth_file_size) {
      result = ReadFile::too_large;
      break;
    }
    out.append(chunk, n);
  }
  std::fclose(f);
  return result;
}

/// The next '\n'-ended line of `text` (without it), advancing `text` past it.
std::string_view next_line(std::string_view& text) noexcept {
  const std::size_t end = text.find('\n');
  const std::string_view line = text.substr(0, end);
  text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  return line;
}

/// memcached's tokenize_command(): tokens separated by spaces, empty ones skipped. Fills
/// at most `max` and returns how many it found (up to max).
std::size_t split_tokens(std::string_view text, std::string_view* tokens, std::size_t max) noexcept {
  std::size_t n = 0;
  while (n < max) {
    const std::size_t start = text.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    const std::size_t end = std::min(text.find(' '), text.size());
    tokens[n++] = text.substr(0, end);
    text.remove_prefix(end);
  }
  return n;
}

}  // namespace

bool parse_credentials(std::string_view text, std::vector<Credential>& out) {
  out.clear();
  while (!text.empty()) {
    const std::string_view line = next_line(text);
    // The user ends at ':', which must come before any NUL (memcached stops there too).
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.substr(0, colon).find('\0') != std::string_view::npos) return false;
    std::string_view password = line.substr(colon + 1);
    password = password.substr(0, std::min(password.find_first_of(std::string_view("\r\0", 2)), password.size()));
    out.push_back({std::string(line.substr(0, colon)), std::string(password)});
  }
  return true;
}

bool same_secret(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string AuthFile::load(const std::string& path) {
  std::string text;
  int error = 0;
  switch (read_file(path, text, error)) {
    case ReadFile::open_failed: {
      // memcached's vperror() adds ": <strerror>" after its own "error <strerror>".
      const char* why = std::strerror(error);
      return "Could not open authfile [" + path + "] for reading, error " + why + ": " + why;
    }
    case ReadFile::too_large: return "Out of memory reading password file: " + path;
    case ReadFile::ok: break;
  }
  auto users = std::make_shared<Users>();
  if (!parse_credentials(text, *users)) {
    return "Authfile [" + path + "] has a malformed entry. Should be 'user:password'";
  }
  std::lock_guard<std::mutex> lock(mutex_);
  users_ = std::move(users);
  return {};
}

bool AuthFile::check(std::string_view user, std::string_view password) const {
  std::shared_ptr<const Users> users;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    users = users_;
  }
  bool ok = false;
  for (const Credential& c : *users) {
    // Every entry is compared, so the time says nothing about which user matched.
    // Both compared, not short-circuited.
    const bool user_matches = same_secret(user, c.user);
    const bool password_matches = same_secret(password, c.password);
    ok |= user_matches & password_matches;
  }
  return ok;
}

bool check_sasl_pwdb(const std::string& path, std::string_view user, std::string_view password) {
  if (user.size() + password.size() > max_entry_length - 4) return false;
  std::string text;
  int error = 0;
  if (read_file(path, text, error) != ReadFile::ok) return false;
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::string_view line = next_line(rest);
    if (line.size() <= user.size() || line.substr(0, user.size()) != user || line[user.size()] != ':') continue;
    // The first entry of this user decides; the password may be followed by more fields.
    std::string_view stored = line.substr(user.size() + 1);
    stored = stored.substr(0, std::min(stored.find_first_of(std::string_view(":\r\0", 3)), stored.size()));
    return same_secret(password, stored);
  }
  return false;
}

bool parse_plain(std::string_view message, PlainMessage& out) {
  const std::size_t first = message.find('\0');
  if (first == std::string_view::npos) return false;
  const std::size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos || message.find('\0', second + 1) != std::string_view::npos) return false;
  out.authzid = message.substr(0, first);
  out.user = message.substr(first + 1, second - first - 1);
  out.password = message.substr(second + 1);
  return true;
}

Action ascii_login(Connection& conn, std::span<const char> input, const AuthFile& users) {
  const std::string_view text(input.data(), input.size());
  const std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos) {
    // memcached closes a connection that sends this much junk without a newline.
    return text.size() > ascii_auth_max_line ? Action::close() : Action::need_more();
  }
  std::string_view line = text.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view tokens[5];
  std::uint32_t size = 0;
  if (split_tokens(line, tokens, 5) < 5 || tokens[0] != "set" || !safe_strtoul(tokens[4], size)) {
    conn.reply("CLIENT_ERROR unauthenticated\r\n");
    return Action::consumed(eol + 1);
  }
  // Only the value's length matters: the key, flags and exptime are not looked at.
  const std::size_t value_size = std::size_t{size} + 2;
  if (value_size > ascii_auth_max_value) return Action::close();
  const std::size_t total = eol + 1 + value_size;
  if (text.size() < total) return Action::need_more();
  std::string_view value = text.substr(eol + 1, value_size);
  if (value.substr(value.size() - 2) != "\r\n") {
    conn.reply("CLIENT_ERROR bad command line termination\r\n");
    return Action::consumed(total);
  }
  value.remove_suffix(2);
  std::string_view credentials[2];
  if (split_tokens(value, credentials, 2) < 2) {
    conn.reply("CLIENT_ERROR bad authentication token format\r\n");
    return Action::consumed(total);
  }
  const bool ok = users.check(credentials[0], credentials[1]);
  conn.record_auth(ok);
  conn.reply(ok ? "STORED\r\n" : "CLIENT_ERROR authentication failure\r\n");
  return Action::consumed(total);
}

}  // namespace connkit::cache::detail
