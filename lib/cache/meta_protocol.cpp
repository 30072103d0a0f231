// memcached's meta commands (mg, ms, md, ma, me; mn is in text_protocol.cpp), following
// proto_text.c's process_m*_command and doc/protocol.txt.

#include <charconv>
#include <algorithm>
#include <climits>
#include <cstring>

#include "base64.hpp"
#include "command_counters.hpp"
#include "meta_reply.hpp"
#include "numbers.hpp"
#include "read_through.hpp"
#include "text_protocol.hpp"

namespace connkit::cache::detail {
namespace {

constexpr std::size_t max_meta_tokens = 20;   // memcached's MFLAG_MAX_OPT_LENGTH

// A `b` key, decoded. Used only within one on_input call on this worker thread (a meta
// set's reply takes the key from its item), so idle connections do not carry 256 bytes.
thread_local char decoded_key[256];

/// The t/T/N/R flags of a request, in order (memcached applies them where they stand).
std::string_view ttl_order(const std::string_view* tokens, std::size_t first, std::size_t end, char* out) noexcept {
  std::size_t n = 0;
  for (std::size_t i = first; i < end && n < max_meta_ttl_flags; ++i) {
    const char c = tokens[i][0];
    if (c == 't' || c == 'T' || c == 'N' || c == 'R') out[n++] = c;
  }
  return {out, n};
}

/// Copies the TTL-changing flags (N, T and their order) that mg and ma share into a store
/// request; `order` must outlive the request.
template <class Request, class Flags>
void set_ttl_flags(Request& request, const Flags& of, const std::string_view* tokens, std::size_t count,
                   char (&order)[max_meta_ttl_flags]) noexcept {
  request.vivify = of.vivify;
  request.vivify_exptime = of.autoviv_exptime;
  request.set_ttl = of.new_ttl;
  request.ttl = of.exptime;
  request.order = ttl_order(tokens, 2, count - 1, order);
}

}  // namespace

/// memcached's struct _meta_flags.
struct TextHandler::MetaFlags {
  bool no_update = false, vivify = false, value = false, set_stale = false, no_reply = false;
  bool has_cas = false, new_ttl = false, key_binary = false, recache = false;
  char mode = 0;
  std::int32_t exptime = 0, autoviv_exptime = 0, recache_time = 0;
  std::uint32_t client_flags = 0;
  std::uint64_t req_cas = 0, delta = 1, initial = 0;
};

const char* TextHandler::meta_preparse(Tokens& t, std::size_t start, MetaFlags& of) {
  bool seen[128] = {};
  const char* error = nullptr;
  for (std::size_t i = start; i + 1 < t.count; ++i) {
    const std::string_view token = t.token[i];
    const auto o = static_cast<unsigned char>(token[0]);
    if (o >= 127 || seen[o]) return "CLIENT_ERROR duplicate flag";
    seen[o] = true;
    const std::string_view arg = token.substr(1);
    auto bad_token = [&] { error = "CLIENT_ERROR bad token in command line format"; };
    switch (o) {
      case 'b': {
        const std::size_t n = base64_decode(t.token[1], decoded_key, sizeof decoded_key);
        if (n == 0) error = "CLIENT_ERROR error decoding key";
        t.token[1] = std::string_view(decoded_key, n);
        of.key_binary = true;
        break;
      }
      case 'N':
        of.vivify = true;
        if (!safe_strtol(arg, of.autoviv_exptime)) bad_token();
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
      case 'q': of.no_reply = true; break;
      case 'F':  // memcached keeps the command's default error for a bad F
        if (!safe_strtoul(arg, of.client_flags)) error = "CLIENT_ERROR bad command line format";
        break;
      case 'C':
        if (!safe_strtoull(arg, of.req_cas)) {
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

bool compose_meta_hit(MetaLine& line, std::span<const std::string_view> flags, const Item& item,
                      const MetaGetResult& seen, std::int64_t now, bool value, bool key_binary) noexcept {
  if (value) {
    line.text("VA ");
    line.number(item.value().size());
  } else {
    line.text("HD");
  }
  std::size_t ttl_shown = 0;
  for (const std::string_view flag : flags) {
    switch (flag[0]) {
      case 's': line.flag('s', item.value().size()); break;
      case 't': put_ttl(line, seen.ttl_at[std::min(ttl_shown++, max_meta_ttl_flags - 1)], now); break;
      case 'c': line.flag('c', item.cas()); break;
      case 'f': line.flag('f', item.flags()); break;
      case 'l': line.flag('l', static_cast<std::uint32_t>(now - seen.last_access_before)); break;
      case 'h': line.text(seen.fetched_before ? " h1" : " h0"); break;
      case 'O':
        if (flag.size() > max_opaque_length) return false;
        line.text(" ");
        line.text(flag);
        break;
      case 'k': line.key(item.key(), key_binary); break;
      default: break;
    }
  }
  if (seen.token_was_sent) line.text(" Z");
  if (seen.stale) line.text(" X");
  if (seen.won) line.text(" W");
  line.text("\r\n");
  return true;
}

bool compose_meta_miss(MetaLine& line, std::span<const std::string_view> flags, std::string_view key,
                       bool key_binary) noexcept {
  line.text("EN");
  for (const std::string_view flag : flags) {
    if (flag[0] == 'O') {
      if (flag.size() > max_opaque_length) return false;
      line.text(" ");
      line.text(flag);
    } else if (flag[0] == 'k') {
      line.key(key, key_binary);
    }
  }
  return true;
}

Action TextHandler::process_meta_get(Connection& conn, Tokens t, std::size_t used) {
  auto error = [&](std::string_view text) {
    out_errstring(conn, text);
    return Action::consumed(used);
  };
  if (t.count < 3) {
    out_string(conn, "ERROR");
    return Action::consumed(used);
  }
  if (t.token[1].size() > max_key_length) return error("CLIENT_ERROR bad command line format");
  if (t.count > max_meta_tokens) return error("CLIENT_ERROR options flags are too long");
  MetaFlags of;
  if (const char* message = meta_preparse(t, 2, of)) return error(message);
  noreply_ = of.no_reply;
  const std::string_view key = t.token[1];
  const std::span<const std::string_view> flags(t.token + 2, t.count - 3);
  MetaGetRequest request;
  char order[max_meta_ttl_flags];
  set_ttl_flags(request, of, t.token, t.count, order);
  request.no_update = of.no_update;
  request.recache = of.recache;
  request.recache_ttl = of.recache_time;
  MetaGetResult seen;
  Miss why = Miss::none;
  Store& store = endpoint_.store();
  ItemRef item = store.meta_get(key, request, seen, &why);
  CommandCounters& stats = counters(conn);
  const std::int64_t now = store.now();
  const bool hit = static_cast<bool>(item);
  MetaLine line;
  if (!hit) {
    if (of.new_ttl) {
      stats[&CommandStats::cmd_touch].add();
      stats[&CommandStats::touch_misses].add();
    } else {
      stats[&CommandStats::cmd_get].add();
      stats[&CommandStats::get_misses].add();
      if (why == Miss::expired) stats[&CommandStats::get_expired].add();
      if (why == Miss::flushed) stats[&CommandStats::get_flushed].add();
    }
    if (!compose_meta_miss(line, flags, key, of.key_binary)) return error("CLIENT_ERROR opaque token too long");
    if (loads_ == nullptr) {
      out_string(conn, line.view());  // elided under q
      return Action::consumed(used);
    }
    // Read-through: the reply waits for the key's load, its flag tokens copied for then.
    const char* first = flags.empty() ? key.data() + key.size() : flags.front().data();
    const char* last = flags.empty() ? first : flags.back().data() + flags.back().size();
    LoadWaiter waiter;
    waiter.form = LoadWaiter::Form::meta;
    waiter.meta_value = of.value;
    waiter.meta_quiet = of.no_reply;
    waiter.key_binary = of.key_binary;
    waiter.meta_flags.assign(first, static_cast<std::size_t>(last - first));
    item = loads_->await(conn, key, std::move(waiter));
    noreply_ = false;
    if (!item) return Action::defer(used);
    seen = loaded_item_seen(*item, now);  // loaded since this request missed: a hit after all
    line = MetaLine();
  }
  if (!compose_meta_hit(line, flags, *item, seen, now, of.value, of.key_binary)) {
    return error("CLIENT_ERROR opaque token too long");
  }
  if (hit && of.new_ttl) {
    stats[&CommandStats::cmd_touch].add();
    stats[&CommandStats::touch_hits].add();
  } else if (hit) {
    stats[&CommandStats::cmd_get].add();
    stats[&CommandStats::get_hits].add();
  }
  noreply_ = false;
  conn.reply(line.view());
  if (of.value) conn.reply_ref(item->value_with_crlf(), item->owner());
  return Action::consumed(used);
}

Action TextHandler::process_meta_set(Connection& conn, Tokens t, std::size_t used) {
  if (t.count < 3) {
    out_string(conn, "ERROR");
    return Action::consumed(used);
  }
  if (t.token[1].size() > max_key_length || t.count == 3) {
    out_errstring(conn, "CLIENT_ERROR bad command line format");
    return Action::consumed(used);
  }
  if (t.count > max_meta_tokens) {
    out_errstring(conn, "CLIENT_ERROR options flags too long");
    return Action::consumed(used);
  }
  std::int32_t length = 0;
  if (!safe_strtol(t.token[2], length) || length < 0 || length > INT_MAX - 2) {
    out_errstring(conn, "CLIENT_ERROR bad command line format");
    return Action::consumed(used);
  }
  const auto value_size = static_cast<std::size_t>(length);
  auto fail = [&](std::string_view error) {
    out_errstring(conn, error);
    return Action::swallow(used, value_size + 2);  // the value line is discarded
  };
  MetaFlags of;
  if (const char* error = meta_preparse(t, 3, of)) return fail(error);
  noreply_ = of.no_reply;
  MetaSetReply reply;
  for (std::size_t i = 2; i + 1 < t.count; ++i) {
    const char c = t.token[i][0];
    if (c == 'O') {
      if (t.token[i].size() > max_opaque_length) return fail("CLIENT_ERROR opaque token too long");
      std::memcpy(reply.opaque, t.token[i].data(), t.token[i].size());
      reply.opaque_size = t.token[i].size();
    }
    if ((c == 'O' || c == 'k' || c == 'c') && reply.count < 3) reply.order[reply.count++] = c;
  }
  StoreMode mode = StoreMode::set;
  switch (of.mode) {
    case 0: case 'S': mode = StoreMode::set; break;
    case 'E': mode = StoreMode::add; break;
    case 'A': mode = StoreMode::append; break;
    case 'P': mode = StoreMode::prepend; break;
    case 'R': mode = StoreMode::replace; break;
    default: return fail("CLIENT_ERROR invalid mode for ms M token");
  }
  if (of.has_cas && (mode == StoreMode::set || mode == StoreMode::replace)) mode = StoreMode::cas;
  const std::string_view key = t.token[1];
  Store& store = endpoint_.store();
  ItemRef item = store.allocate(key, of.client_flags, of.exptime, value_size);
  if (!item) {
    const bool too_large = store.too_large(key.size(), value_size);
    CommandCounters& stats = counters(conn);
    (too_large ? stats[&CommandStats::store_too_large] : stats[&CommandStats::store_no_memory]).add();
    store.remove(key);  // no stale value may survive a failed set
    return fail(too_large ? "SERVER_ERROR object too large for cache" : "SERVER_ERROR out of memory storing object");
  }
  reply.active = true;
  reply.key_binary = of.key_binary;
  reply.set_stale = of.set_stale && mode == StoreMode::cas;
  meta_set_ = reply;
  pending_ = std::move(item);
  pending_mode_ = mode;
  pending_cas_ = of.req_cas;
  return Action::read_body_into(used, pending_->value_with_crlf());
}

void TextHandler::finish_meta_set(Connection& conn, const ItemRef& item, StoreResult result) {
  MetaLine line;
  switch (result) {
    case StoreResult::stored: line.text("HD"); break;
    case StoreResult::exists: line.text("EX"); break;
    case StoreResult::not_found: line.text("NF"); break;
    case StoreResult::not_stored: line.text("NS"); break;
    case StoreResult::no_memory: return out_errstring(conn, "SERVER_ERROR out of memory storing object");
  }
  if (result != StoreResult::stored) noreply_ = false;  // q elides only the nominal reply
  for (std::size_t i = 0; i < meta_set_.count; ++i) {
    switch (meta_set_.order[i]) {
      case 'O':
        line.text(" ");
        line.text(std::string_view(meta_set_.opaque, meta_set_.opaque_size));
        break;
      case 'k': line.key(item->key(), meta_set_.key_binary); break;
      case 'c': line.flag('c', result == StoreResult::stored ? item->cas() : 0); break;
      default: break;
    }
  }
  out_string(conn, line.view());
}

bool TextHandler::meta_prologue(Connection& conn, Tokens& t, MetaFlags& of) {
  // md and ma check their line the same way (and answer errors with the same words).
  if (t.count < 3) {
    out_string(conn, "ERROR");
  } else if (t.token[1].size() > max_key_length) {
    out_string(conn, "CLIENT_ERROR bad command line format");
  } else if (t.count > max_meta_tokens) {
    out_string(conn, "CLIENT_ERROR options flags too long");
  } else if (meta_preparse(t, 2, of) != nullptr) {
    out_errstring(conn, "CLIENT_ERROR invalid or duplicate flag");
  } else {
    noreply_ = of.no_reply;
    return true;
  }
  return false;
}

void TextHandler::process_meta_delete(Connection& conn, Tokens t) {
  MetaFlags of;
  if (!meta_prologue(conn, t, of)) return;
  const std::string_view key = t.token[1];
  MetaLine flags;
  for (std::size_t i = 2; i + 1 < t.count; ++i) {
    if (t.token[i][0] == 'O') {
      if (t.token[i].size() > max_opaque_length) return out_errstring(conn, "CLIENT_ERROR opaque token too long");
      flags.text(" ");
      flags.text(t.token[i]);
    } else if (t.token[i][0] == 'k') {
      flags.key(key, of.key_binary);
    }
  }
  const MetaDeleteResult result =
      endpoint_.store().meta_delete(key, of.has_cas, of.req_cas, of.set_stale, of.new_ttl, of.exptime);
  MetaLine line;
  if (result == MetaDeleteResult::deleted) {
    line.text("HD");
    if (!of.set_stale) counters(conn)[&CommandStats::delete_hits].add();
  } else {
    line.text(result == MetaDeleteResult::exists ? "EX" : "NF");
    counters(conn)[&CommandStats::delete_misses].add();
    noreply_ = false;  // q elides only the nominal reply
  }
  line.text(flags.view());
  out_string(conn, line.view());
}

void TextHandler::process_meta_arithmetic(Connection& conn, Tokens t) {
  MetaFlags of;
  if (!meta_prologue(conn, t, of)) return;
  bool increment = true;
  switch (of.mode) {
    case 0: case 'I': case '+': increment = true; break;
    case 'D': case '-': increment = false; break;
    default: return out_errstring(conn, "CLIENT_ERROR invalid mode for ma M token");
  }
  const std::string_view key = t.token[1];
  ArithRequest request;
  char order[max_meta_ttl_flags];
  set_ttl_flags(request, of, t.token, t.count, order);
  request.has_cas = of.has_cas;
  request.cas = of.req_cas;
  request.initial = of.initial;
  std::int64_t ttl_at[max_meta_ttl_flags] = {};
  request.ttl_at = ttl_at;
  std::size_t ttl_shown = 0;
  std::uint64_t value = 0;
  ItemRef item;
  bool created = false;
  CommandCounters& stats = counters(conn);
  MetaLine line;
  switch (endpoint_.store().arithmetic(key, increment, of.delta, request, value, item, created)) {
    case ArithResult::ok:
      if (created) {
        noreply_ = false;  // memcached elides only the reply for an existing item
      } else {
        (increment ? stats[&CommandStats::incr_hits] : stats[&CommandStats::decr_hits]).add();
      }
      break;
    case ArithResult::non_numeric:
      return out_errstring(conn, "CLIENT_ERROR cannot increment or decrement non-numeric value");
    case ArithResult::no_memory:
      return out_errstring(conn, "SERVER_ERROR out of memory");
    case ArithResult::not_found:
      (increment ? stats[&CommandStats::incr_misses] : stats[&CommandStats::decr_misses]).add();
      line.text("NF");
      noreply_ = false;
      break;
    case ArithResult::exists:
      line.text("EX");
      noreply_ = false;
      break;
  }
  char digits[24];
  const std::string_view number(digits,
                                static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, value).ptr - digits));
  if (item) {
    if (of.value) {
      line.text("VA ");
      line.number(number.size());
    } else {
      line.text("HD");
    }
  }
  const std::int64_t now = endpoint_.store().now();
  for (std::size_t i = 2; i + 1 < t.count; ++i) {
    const char c = t.token[i][0];
    if (c == 'O') {
      if (t.token[i].size() > max_opaque_length) return out_errstring(conn, "CLIENT_ERROR opaque token too long");
      line.text(" ");
      line.text(t.token[i]);
    } else if (c == 'k') {
      line.key(key, of.key_binary);
    } else if (item && c == 'c') {
      line.flag('c', item->cas());
    } else if (item && c == 't') {
      put_ttl(line, ttl_at[std::min(ttl_shown++, max_meta_ttl_flags - 1)], now);
    }
  }
  if (item && of.value) {
    line.text("\r\n");
    line.text(number);
  }
  out_string(conn, line.view());
}

void TextHandler::process_meta_debug(Connection& conn, Tokens t) {
  if (t.count < 3 || t.token[1].size() > max_key_length) {
    return out_string(conn, "CLIENT_ERROR bad command line format");
  }
  bool binary = false;
  if (t.count >= 4 && t.token[2] == "b") {
    const std::size_t n = base64_decode(t.token[1], decoded_key, sizeof decoded_key);
    if (n == 0) return out_string(conn, "CLIENT_ERROR bad command line format");
    t.token[1] = std::string_view(decoded_key, n);
    binary = true;
  }
  MetaGetRequest request;
  request.no_update = true;
  MetaGetResult seen;
  ItemRef item = endpoint_.store().meta_get(t.token[1], request, seen);
  if (!item) return out_string(conn, "EN");
  const std::int64_t now = endpoint_.store().now();
  MetaLine line;
  line.text("ME ");
  if (binary) {
    char encoded[344];
    line.text(std::string_view(encoded, base64_encode(item->key(), encoded)));
  } else {
    line.text(item->key());
  }
  // memcached prints exp as now - exptime (negative while the item lives) and its slab class.
  line.text(" exp=");
  line.number(item->exptime() == 0 ? std::int64_t{-1} : now - item->exptime());
  line.text(" la=");
  line.number(now - seen.last_access_before);
  line.text(" cas=");
  line.number(item->cas());
  line.text(seen.fetched_before ? " fetch=yes" : " fetch=no");
  line.text(" cls=");
  line.number(item->slab_class());
  line.text(" size=");
  line.number(item->total_size());
  out_string(conn, line.view());
}

}  // namespace connkit::cache::detail
