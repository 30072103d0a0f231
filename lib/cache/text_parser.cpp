// Parsing memcached's text and meta command lines (proto_text.c's process_command_ascii and
// the process_*_command prologues, doc/protocol.txt). Each command's token-count rule and
// argument checks sit in one table row; the answers to bad lines are memcached's.

#include "text_parser.hpp"

#include <algorithm>
#include <climits>
#include <string_view>

#include "base64.hpp"
#include "numbers.hpp"
#include "text_tokens.hpp"

namespace connkit::cache::detail {
namespace {

constexpr std::string_view bad_format = "CLIENT_ERROR bad command line format";
constexpr std::size_t max_meta_tokens = 20;  // memcached's MFLAG_MAX_OPT_LENGTH, command and key included

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

/// Parsing one command's tokens: true when `out` holds the request, false after setting
/// out.error (and out.noreply / out.swallow where memcached's answer depends on them).
using TokenParser = bool (*)(const Tokens& t, std::string_view line, Request& out);

bool fail(Request& out, std::string_view error) noexcept {
  out.error = error;
  return false;
}

/// memcached's set_noreply_maybe: a last token "noreply" silences the reply.
void noreply_maybe(const Tokens& t, Request& out) noexcept {
  if (t.count >= 2 && t.token[t.count - 2] == "noreply") out.noreply = true;
}

bool key_argument(const Tokens& t, Request& out) noexcept {
  out.key = t.token[1];
  return valid_key_length(out.key.size()) || fail(out, bad_format);
}

// ---- The classic commands ------------------------------------------------------------------

bool parse_retrieval(const Tokens& t, std::string_view line, Request& out) {
  std::size_t first_key = 1;
  if (out.command == Command::gat || out.command == Command::gats) {
    std::int32_t exptime = 0;
    if (!safe_strtol(t.token[1], exptime)) return fail(out, "CLIENT_ERROR invalid exptime argument");
    out.exptime = exptime;
    first_key = 2;
  }
  // Every key to the end of the line (memcached re-tokenizes what the first pass left).
  if (first_key + 1 < t.count) {
    out.keys = line.substr(static_cast<std::size_t>(t.token[first_key].data() - line.data()));
    out.key = t.token[first_key];
  }
  for (std::string_view rest = out.keys; !rest.empty();) {
    const std::size_t end = std::min(rest.find(' '), rest.size());
    if (end > max_key_length) return fail(out, bad_format);  // the whole command fails
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return true;
}

bool parse_storage(const Tokens& t, std::string_view, Request& out) {
  noreply_maybe(t, out);
  if (!key_argument(t, out)) return false;
  std::int32_t exptime = 0;
  std::int32_t length = 0;
  if (!(safe_strtoul(t.token[2], out.flags) && safe_strtol(t.token[3], exptime) && safe_strtol(t.token[4], length))) {
    return fail(out, bad_format);
  }
  if (out.command == Command::cas && !safe_strtoull(t.token[5], out.cas)) return fail(out, bad_format);
  if (length < 0 || length > INT_MAX - 2) return fail(out, bad_format);
  out.exptime = exptime;
  out.value_size = static_cast<std::size_t>(length);
  switch (out.command) {
    case Command::add: out.mode = StoreMode::add; break;
    case Command::replace: out.mode = StoreMode::replace; break;
    case Command::append: out.mode = StoreMode::append; break;
    case Command::prepend: out.mode = StoreMode::prepend; break;
    case Command::cas: out.mode = StoreMode::cas; break;
    default: out.mode = StoreMode::set; break;
  }
  return true;
}

bool parse_delete(const Tokens& t, std::string_view, Request& out) {
  if (t.count > 3) {
    // "delete <key> 0" is still accepted (a hold time of 0), as memcached does.
    const bool hold_is_zero = t.token[2] == "0";
    noreply_maybe(t, out);
    const bool valid = (t.count == 4 && (hold_is_zero || out.noreply)) || (t.count == 5 && hold_is_zero && out.noreply);
    if (!valid) return fail(out, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
  }
  return key_argument(t, out);
}

bool parse_arithmetic(const Tokens& t, std::string_view, Request& out) {
  noreply_maybe(t, out);
  if (!key_argument(t, out)) return false;
  return safe_strtoull(t.token[2], out.delta) || fail(out, "CLIENT_ERROR invalid numeric delta argument");
}

bool parse_touch(const Tokens& t, std::string_view, Request& out) {
  noreply_maybe(t, out);
  if (!key_argument(t, out)) return false;
  std::int32_t exptime = 0;
  if (!safe_strtol(t.token[2], exptime)) return fail(out, "CLIENT_ERROR invalid exptime argument");
  out.exptime = exptime;
  return true;
}

bool parse_flush_all(const Tokens& t, std::string_view, Request& out) {
  noreply_maybe(t, out);
  if (t.count != (out.noreply ? 3u : 2u)) {
    std::int32_t exptime = 0;
    // Checked after the command is counted and flush_all allowed (memcached's order): kept
    // as an error on a complete request.
    if (!safe_strtol(t.token[1], exptime)) out.error = "CLIENT_ERROR invalid exptime argument";
    out.exptime = exptime;
    out.has_exptime = true;
  }
  return true;
}

bool parse_verbosity(const Tokens& t, std::string_view, Request& out) {
  noreply_maybe(t, out);
  return safe_strtoul(t.token[1], out.level) || fail(out, bad_format);
}

bool parse_stats(const Tokens& t, std::string_view line, Request& out) {
  if (t.count > 2) out.argument = line.substr(static_cast<std::size_t>(t.token[1].data() - line.data()));
  return true;
}

bool parse_nothing(const Tokens&, std::string_view, Request&) { return true; }

bool parse_memlimit(const Tokens& t, std::string_view, Request& out) {
  noreply_maybe(t, out);
  return safe_strtoul(t.token[1], out.level) || fail(out, "ERROR");
}

// memcached's process_lru_crawler_command: a subcommand and its one argument, or enable /
// disable alone; any other shape is ERROR.
bool parse_lru_crawler(const Tokens& t, std::string_view line, Request& out) {
  const std::string_view sub = t.token[1];
  const bool with_argument = sub == "crawl" || sub == "metadump" || sub == "tocrawl" || sub == "sleep";
  const bool alone = sub == "enable" || sub == "disable";
  if (!(with_argument && t.count == 4) && !(alone && t.count == 3)) return fail(out, "ERROR");
  out.argument = line.substr(static_cast<std::size_t>(sub.data() - line.data()));
  return true;
}

/// `shutdown [graceful]`: the mode is checked when it runs, after -A (the reply depends on
/// both); "?" stands for more than one argument, which no mode matches.
bool parse_shutdown(const Tokens& t, std::string_view, Request& out) {
  if (t.count == 3) out.argument = t.token[1];
  if (t.count > 3) out.argument = "?";
  return true;
}

// ---- Meta commands --------------------------------------------------------------------------

/// memcached's _meta_flag_preparse over the flag tokens from `start`: fills out.meta (the
/// tokens too) and, for b, decodes the key into out.key_buffer. Returns the error, or null.
const char* meta_preparse(const Tokens& t, std::size_t start, Request& out) noexcept {
  MetaFlags& of = out.meta;
  bool seen[128] = {};
  const char* error = nullptr;
  for (std::size_t i = start; i + 1 < t.count; ++i) {
    const std::string_view token = t.token[i];
    of.tokens[of.count++] = token;
    const auto o = static_cast<unsigned char>(token[0]);
    if (o >= 127 || seen[o]) return "CLIENT_ERROR duplicate flag";
    seen[o] = true;
    const std::string_view arg = token.substr(1);
    auto bad_token = [&] { error = "CLIENT_ERROR bad token in command line format"; };
    switch (o) {
      case 'b': {
        const std::size_t n = base64_decode(t.token[1], out.key_buffer, sizeof out.key_buffer);
        if (n == 0) error = "CLIENT_ERROR error decoding key";
        out.key = std::string_view(out.key_buffer, n);
        of.key_binary = true;
        break;
      }
      case 'N':
        of.vivify = true;
        if (!safe_strtol(arg, of.vivify_exptime)) bad_token();
        break;
      case 'T':
        if (!safe_strtol(arg, of.exptime)) bad_token();
        of.new_ttl = true;
        break;
      case 'R':
        of.recache = true;
        if (!safe_strtol(arg, of.recache_time)) bad_token();
        break;
      case 'l': case 'O': case 'P': case 'L': case 'k': case 's': case 't': case 'c': case 'f': case 'h':
        break;
      case 'v': of.value = true; break;
      case 'u': of.no_update = true; break;
      case 'q': of.quiet = true; break;
      case 'F':  // memcached keeps the command's default error for a bad F
        if (!safe_strtoul(arg, of.client_flags)) error = "CLIENT_ERROR bad command line format";
        break;
      case 'C':
        if (!safe_strtoull(arg, of.cas)) {
          bad_token();
        } else {
          of.has_cas = true;
        }
        break;
      case 'M':
        if (token.size() != 2) {
          error = "CLIENT_ERROR incorrect length for M token";
        } else {
          of.mode = token[1];
        }
        break;
      case 'J':
        if (!safe_strtoull(arg, of.initial)) error = "CLIENT_ERROR invalid numeric initial value";
        break;
      case 'D':
        if (!safe_strtoull(arg, of.delta)) error = "CLIENT_ERROR invalid numeric delta value";
        break;
      case 'I': of.set_stale = true; break;
      default: return "CLIENT_ERROR invalid flag";
    }
  }
  return error;
}

/// The meta key (t.token[1]), unless b already decoded it.
void meta_key(const Tokens& t, Request& out) noexcept {
  if (!out.meta.key_binary) out.key = t.token[1];
}

bool parse_meta_get(const Tokens& t, std::string_view, Request& out) {
  if (t.token[1].size() > max_key_length) return fail(out, bad_format);
  if (t.count > max_meta_tokens) return fail(out, "CLIENT_ERROR options flags are too long");
  if (const char* error = meta_preparse(t, 2, out)) return fail(out, error);
  meta_key(t, out);
  out.noreply = out.meta.quiet;
  return true;
}

bool parse_meta_set(const Tokens& t, std::string_view, Request& out) {
  if (t.token[1].size() > max_key_length || t.count == 3) return fail(out, bad_format);
  if (t.count > max_meta_tokens) return fail(out, "CLIENT_ERROR options flags too long");
  std::int32_t length = 0;
  if (!safe_strtol(t.token[2], length) || length < 0 || length > INT_MAX - 2) return fail(out, bad_format);
  out.value_size = static_cast<std::size_t>(length);
  // From here on a refused command's value line is discarded.
  auto refuse = [&](std::string_view error) {
    out.swallow = out.value_size + 2;
    return fail(out, error);
  };
  if (const char* error = meta_preparse(t, 3, out)) return refuse(error);
  for (const std::string_view token : out.meta.flags()) {
    if (token[0] == 'O' && token.size() > max_opaque_length) return refuse("CLIENT_ERROR opaque token too long");
  }
  const MetaFlags& of = out.meta;
  switch (of.mode) {
    case 0: case 'S': out.mode = StoreMode::set; break;
    case 'E': out.mode = StoreMode::add; break;
    case 'A': out.mode = StoreMode::append; break;
    case 'P': out.mode = StoreMode::prepend; break;
    case 'R': out.mode = StoreMode::replace; break;
    default: return refuse("CLIENT_ERROR invalid mode for ms M token");
  }
  if (of.has_cas && (out.mode == StoreMode::set || out.mode == StoreMode::replace)) out.mode = StoreMode::cas;
  out.cas = of.cas;
  out.flags = of.client_flags;
  out.exptime = of.exptime;
  out.set_stale = of.set_stale && out.mode == StoreMode::cas;
  meta_key(t, out);
  out.noreply = of.quiet;
  return true;
}

/// md and ma check their line the same way, and answer errors with the same words.
bool meta_prologue(const Tokens& t, Request& out) {
  if (t.token[1].size() > max_key_length) return fail(out, bad_format);
  if (t.count > max_meta_tokens) return fail(out, "CLIENT_ERROR options flags too long");
  if (meta_preparse(t, 2, out) != nullptr) return fail(out, "CLIENT_ERROR invalid or duplicate flag");
  meta_key(t, out);
  return true;
}

bool parse_meta_delete(const Tokens& t, std::string_view, Request& out) {
  if (!meta_prologue(t, out)) return false;
  for (const std::string_view token : out.meta.flags()) {
    if (token[0] == 'O' && token.size() > max_opaque_length) return fail(out, "CLIENT_ERROR opaque token too long");
  }
  out.noreply = out.meta.quiet;
  return true;
}

bool parse_meta_arithmetic(const Tokens& t, std::string_view, Request& out) {
  if (!meta_prologue(t, out)) return false;
  switch (out.meta.mode) {
    case 0: case 'I': case '+': case 'D': case '-': break;  // Executor::meta_arithmetic reads it
    default: return fail(out, "CLIENT_ERROR invalid mode for ma M token");
  }
  out.noreply = out.meta.quiet;
  return true;
}

bool parse_meta_debug(const Tokens& t, std::string_view, Request& out) {
  if (t.count < 3 || t.token[1].size() > max_key_length) return fail(out, bad_format);
  out.key = t.token[1];
  if (t.count >= 4 && t.token[2] == "b") {
    const std::size_t n = base64_decode(t.token[1], out.key_buffer, sizeof out.key_buffer);
    if (n == 0) return fail(out, bad_format);
    out.key = std::string_view(out.key_buffer, n);
    out.meta.key_binary = true;
  }
  return true;
}

// ---- The command table ----------------------------------------------------------------------

/// One command: its name, what it is, the token counts it takes (memcached's ntokens: the
/// tokens plus a terminator) and the parser of its arguments. A count outside the range
/// answers ERROR.
struct CommandSpec {
  std::string_view name;
  Command command;
  std::uint8_t min_tokens, max_tokens;
  TokenParser parse;
};

constexpr std::uint8_t any = 255;

constexpr CommandSpec commands[] = {
    {"get", Command::get, 3, any, parse_retrieval},
    {"gets", Command::gets, 3, any, parse_retrieval},
    {"gat", Command::gat, 3, any, parse_retrieval},
    {"gats", Command::gats, 3, any, parse_retrieval},
    {"bget", Command::get, 3, any, parse_retrieval},
    {"set", Command::set, 6, 7, parse_storage},
    {"add", Command::add, 6, 7, parse_storage},
    {"replace", Command::replace, 6, 7, parse_storage},
    {"append", Command::append, 6, 7, parse_storage},
    {"prepend", Command::prepend, 6, 7, parse_storage},
    {"cas", Command::cas, 7, 8, parse_storage},
    {"delete", Command::del, 3, 5, parse_delete},
    {"incr", Command::incr, 4, 5, parse_arithmetic},
    {"decr", Command::decr, 4, 5, parse_arithmetic},
    {"touch", Command::touch, 4, 5, parse_touch},
    {"flush_all", Command::flush_all, 2, 4, parse_flush_all},
    {"version", Command::version, 2, any, parse_nothing},
    {"verbosity", Command::verbosity, 3, 4, parse_verbosity},
    {"stats", Command::stats, 2, any, parse_stats},
    {"quit", Command::quit, 2, any, parse_nothing},
    {"shutdown", Command::shutdown, 2, any, parse_shutdown},
    {"mg", Command::meta_get, 3, any, parse_meta_get},
    {"ms", Command::meta_set, 3, any, parse_meta_set},
    {"md", Command::meta_delete, 3, any, parse_meta_delete},
    {"ma", Command::meta_arithmetic, 3, any, parse_meta_arithmetic},
    {"me", Command::meta_debug, 2, any, parse_meta_debug},
    {"mn", Command::noop, 2, any, parse_nothing},
    {"cache_memlimit", Command::cache_memlimit, 3, 4, parse_memlimit},
    {"lru_crawler", Command::lru_crawler, 2, any, parse_lru_crawler},
};

const CommandSpec* find_command(std::string_view name) noexcept {
  for (const CommandSpec& spec : commands) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

ParseStatus error(Request& out, std::string_view text) noexcept {
  out.error = text;
  return ParseStatus::error;
}

}  // namespace

ParseStatus parse_text(std::span<const char> input, Request& out, const ParseLimits& limits) noexcept {
  const std::string_view text(input.data(), input.size());
  const std::size_t newline = text.find('\n');
  if (newline == std::string_view::npos) {
    if (text.size() <= limits.max_line) return ParseStatus::need_more;
    // Without a newline in max_line bytes this has to be a large multi-get; anything else
    // closes (memcached's try_read_command_ascii).
    const std::size_t spaces = text.find_first_not_of(' ');
    const std::string_view rest = text.substr(std::min(spaces, text.size()));
    if (spaces <= 100 && (starts_with(rest, "get ") || starts_with(rest, "gets "))) return ParseStatus::need_more;
    out.close = true;
    return ParseStatus::error;
  }
  out.size = newline + 1;
  std::size_t end = newline;
  if (end > 1 && text[end - 1] == '\r') --end;
  const std::string_view line = text.substr(0, end);
  Tokens t;
  tokenize(line, t);
  const std::string_view name = t.token[0];
  if (t.count < 2 || name.size() < 2) return error(out, "ERROR");
  const CommandSpec* spec = find_command(name);
  if (spec == nullptr) {
    // An HTTP request: memcached closes without a word (after the replies before it).
    if (starts_with(t.token[t.count - 2], "HTTP/")) {
      out.close = true;
      return ParseStatus::error;
    }
    return error(out, "ERROR");
  }
  if (t.count < spec->min_tokens || t.count > spec->max_tokens) return error(out, "ERROR");
  out.command = spec->command;
  return spec->parse(t, line, out) ? ParseStatus::complete : ParseStatus::error;
}

}  // namespace connkit::cache::detail
