#include "text_protocol.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "command_counters.hpp"
#include "numbers.hpp"
#include "read_through.hpp"
#include "stats_text.hpp"
#include "value_reply.hpp"

namespace connkit::cache::detail {
namespace {

constexpr unsigned max_verbosity = 2;                // memcached's MAX_VERBOSITY_LEVEL

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

CommandCounters& TextHandler::counters(const Connection& conn) { return endpoint_.counters(conn.worker_index()); }

bool TextHandler::set_noreply_maybe(const Tokens& t) noexcept {
  if (t.count >= 2 && t.token[t.count - 2] == "noreply") noreply_ = true;
  return noreply_;
}

void TextHandler::out_string(Connection& conn, std::string_view text) {
  if (noreply_) {
    noreply_ = false;
    return;
  }
  std::span<char> room = conn.reply_space(text.size() + 2);
  std::memcpy(room.data(), text.data(), text.size());
  room[text.size()] = '\r';
  room[text.size() + 1] = '\n';
  conn.commit_reply(text.size() + 2);
}

Action TextHandler::on_input(Connection& conn, std::span<const char> input) {
  endpoint_.store().maybe_reclaim();
  if (first_input_) {
    first_input_ = false;
    // memcached negotiates on the first byte: 0x80 is the binary protocol, not served here yet.
    if (input[0] == static_cast<char>(0x80)) {
      conn.log(1, "binary protocol client: not supported, closing");
      return Action::close();
    }
  }
  const std::string_view text(input.data(), input.size());
  const std::size_t newline = text.find('\n');
  if (newline == std::string_view::npos) {
    if (text.size() > endpoint_.options().max_line) {
      // Without a newline in 2 KiB this has to be a large multi-get; anything else closes.
      const std::size_t spaces = text.find_first_not_of(' ');
      const std::string_view rest = text.substr(std::min(spaces, text.size()));
      if (spaces > 100 || (!starts_with(rest, "get ") && !starts_with(rest, "gets "))) return Action::close();
    }
    return Action::need_more();
  }
  std::size_t end = newline;
  if (end > 1 && text[end - 1] == '\r') --end;
  return process(conn, text.substr(0, end), newline + 1);
}

Action TextHandler::on_input_too_large(Connection& conn) {
  noreply_ = false;
  out_string(conn, "SERVER_ERROR out of memory reading request");
  return Action::write_and_close();
}

void TextHandler::on_close(Connection&, boost::system::error_code) noexcept {
  pending_.reset();
  meta_set_ = MetaSetReply{};
  noreply_ = false;
  first_input_ = true;
}

Action TextHandler::process(Connection& conn, std::string_view line, std::size_t used) {
  noreply_ = false;
  if (conn.verbosity() > 1) {
    char message[128];
    std::snprintf(message, sizeof message, "<%d %.*s", conn.native_handle(),
                  static_cast<int>(std::min<std::size_t>(line.size(), 100)), line.data());
    conn.log(2, message);
  }
  Tokens t;
  tokenize(line, t);
  const std::string_view command = t.token[0];
  if (t.count < 2 || command.size() < 2) {
    out_string(conn, "ERROR");
    return Action::consumed(used);
  }
  const char first = command[0];
  if (first == 'm' && command.size() == 2) {
    switch (command[1]) {
      case 'g': return process_meta_get(conn, t, used);
      case 's': return process_meta_set(conn, t, used);
      case 'd': process_meta_delete(conn, t); break;
      case 'a': process_meta_arithmetic(conn, t); break;
      case 'e': process_meta_debug(conn, t); break;
      case 'n': out_string(conn, "MN"); break;
      default: out_string(conn, "ERROR"); break;
    }
  } else if (first == 'g') {
    if (t.count < 3) {
      out_string(conn, "ERROR");
    } else if (command == "get") {
      return process_get(conn, t, used, false, false);
    } else if (command == "gets") {
      return process_get(conn, t, used, true, false);
    } else if (command == "gat") {
      return process_get(conn, t, used, false, true);
    } else if (command == "gats") {
      return process_get(conn, t, used, true, true);
    } else {
      out_string(conn, "ERROR");
    }
  } else if (first == 's') {
    if (command == "set") {
      if (t.count != 6 && t.count != 7) {
        out_string(conn, "ERROR");
      } else {
        return process_update(conn, t, used, StoreMode::set);
      }
    } else if (command == "stats") {
      process_stats(conn, t);
    } else if (command == "shutdown") {
      out_string(conn, "ERROR: shutdown not enabled");
    } else {
      out_string(conn, "ERROR");
    }
  } else if (first == 'a') {
    if (command == "add" || command == "append") {
      if (t.count != 6 && t.count != 7) {
        out_string(conn, "ERROR");
      } else {
        return process_update(conn, t, used, command == "add" ? StoreMode::add : StoreMode::append);
      }
    } else {
      out_string(conn, "ERROR");
    }
  } else if (first == 'c') {
    if (command == "cas") {
      if (t.count != 7 && t.count != 8) {
        out_string(conn, "ERROR");
      } else {
        return process_update(conn, t, used, StoreMode::cas);
      }
    } else {
      out_string(conn, "ERROR");
    }
  } else if (first == 'i') {
    if (command == "incr" && (t.count == 4 || t.count == 5)) {
      process_arithmetic(conn, t, true);
    } else {
      out_string(conn, "ERROR");
    }
  } else if (first == 'd') {
    if (command == "delete") {
      if (t.count < 3 || t.count > 5) {
        out_string(conn, "ERROR");
      } else {
        process_delete(conn, t);
      }
    } else if (command == "decr" && (t.count == 4 || t.count == 5)) {
      process_arithmetic(conn, t, false);
    } else {
      out_string(conn, "ERROR");
    }
  } else if (first == 't') {
    if (command == "touch" && (t.count == 4 || t.count == 5)) {
      process_touch(conn, t);
    } else {
      out_string(conn, "ERROR");
    }
  } else if (command == "replace" || command == "prepend") {
    if (t.count != 6 && t.count != 7) {
      out_string(conn, "ERROR");
    } else {
      return process_update(conn, t, used, command == "replace" ? StoreMode::replace : StoreMode::prepend);
    }
  } else if (command == "bget") {
    return process_get(conn, t, used, false, false);
  } else if (command == "flush_all") {
    if (t.count < 2 || t.count > 4) {
      out_string(conn, "ERROR");
    } else {
      process_flush_all(conn, t);
    }
  } else if (command == "version") {
    const std::string& version = endpoint_.options().version;
    std::span<char> room = conn.reply_space(8 + version.size() + 2);
    std::memcpy(room.data(), "VERSION ", 8);
    std::memcpy(room.data() + 8, version.data(), version.size());
    std::memcpy(room.data() + 8 + version.size(), "\r\n", 2);
    conn.commit_reply(8 + version.size() + 2);
  } else if (command == "quit") {
    return Action::write_and_close(used);
  } else if (command == "verbosity") {
    if (t.count != 3 && t.count != 4) {
      out_string(conn, "ERROR");
    } else {
      process_verbosity(conn, t);
    }
  } else if (starts_with(t.token[t.count - 2], "HTTP/")) {
    return Action::close();  // an HTTP request: memcached closes without a word
  } else {
    out_string(conn, "ERROR");
  }
  return Action::consumed(used);
}

Action TextHandler::process_get(Connection& conn, const Tokens& t, std::size_t used, bool return_cas, bool touch) {
  CommandCounters& stats = counters(conn);
  std::size_t first_key = 1;
  std::int32_t exptime = 0;
  if (touch) {
    if (!safe_strtol(t.token[1], exptime)) {
      out_string(conn, "CLIENT_ERROR invalid exptime argument");
      return Action::consumed(used);
    }
    first_key = 2;
  }
  // Keys: the tokens, then whatever the tokenizer left unscanned (memcached re-tokenizes).
  auto for_each_key = [&](auto&& f) {
    for (std::size_t i = first_key; i + 1 < t.count; ++i) {
      if (!f(t.token[i])) return false;
    }
    std::string_view rest = t.rest;
    while (!rest.empty()) {
      const std::size_t end = std::min(rest.find(' '), rest.size());
      if (end != 0 && !f(rest.substr(0, end))) return false;
      rest.remove_prefix(std::min(end + 1, rest.size()));
    }
    return true;
  };
  // A key over max_key_length bytes anywhere makes the whole command an error (and nothing else is sent).
  if (!for_each_key([](std::string_view key) { return key.size() <= max_key_length; })) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return Action::consumed(used);
  }
  const bool cas_enabled = endpoint_.options().cas_enabled;
  bool deferred = false;
  for_each_key([&](std::string_view key) {
    Miss why = Miss::none;
    ItemRef item = touch ? endpoint_.store().get_and_touch(key, exptime, &why) : endpoint_.store().get(key, &why);
    if (touch) {
      stats[&CommandStats::cmd_touch].add();
      (item ? stats[&CommandStats::touch_hits] : stats[&CommandStats::touch_misses]).add();
    } else {
      stats[&CommandStats::cmd_get].add();
      if (item) {
        stats[&CommandStats::get_hits].add();
      } else {
        stats[&CommandStats::get_misses].add();
        if (why == Miss::expired) stats[&CommandStats::get_expired].add();
        if (why == Miss::flushed) stats[&CommandStats::get_flushed].add();
      }
    }
    if (!item && loads_ != nullptr) {
      // Read-through: this key's place in the reply waits for its load.
      LoadWaiter waiter;
      waiter.form = return_cas ? LoadWaiter::Form::value_cas : LoadWaiter::Form::value;
      item = loads_->await(conn, key, std::move(waiter));
      deferred = deferred || !item;
    }
    if (!item) return true;
    // The header, then the value: small ones copied right after it, larger ones sent
    // zero-copy from the item.
    const std::span<char> value = item->value_with_crlf();
    const bool copy = value.size() <= copy_value_limit;
    std::span<char> room = conn.reply_space(value_header_room(key.size()) + (copy ? value.size() : 0));
    const std::uint64_t cas = cas_enabled ? item->cas() : 0;
    char* p = format_value_header(room.data(), key, item->flags(), item->value().size(), return_cas ? &cas : nullptr);
    if (copy) {
      std::memcpy(p, value.data(), value.size());
      p += value.size();
    }
    conn.commit_reply(static_cast<std::size_t>(p - room.data()));
    if (!copy) conn.reply_ref(value, item->owner());
    return true;
  });
  conn.reply("END\r\n");  // copied: it joins the segment before it
  return deferred ? Action::defer(used) : Action::consumed(used);
}

Action TextHandler::process_update(Connection& conn, const Tokens& t, std::size_t used, StoreMode mode) {
  set_noreply_maybe(t);
  const std::string_view key = t.token[1];
  if (key.size() > max_key_length) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return Action::consumed(used);
  }
  std::uint32_t flags = 0;
  std::int32_t exptime = 0;
  std::int32_t length = 0;
  if (!(safe_strtoul(t.token[2], flags) && safe_strtol(t.token[3], exptime) && safe_strtol(t.token[4], length))) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return Action::consumed(used);
  }
  std::uint64_t compare = 0;
  if (mode == StoreMode::cas && !safe_strtoull(t.token[5], compare)) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return Action::consumed(used);
  }
  if (length < 0 || length > INT_MAX - 2) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return Action::consumed(used);
  }
  const auto value_size = static_cast<std::size_t>(length);
  Store& store = endpoint_.store();
  ItemRef item = store.allocate(key, flags, exptime, value_size);
  if (!item) {
    if (store.too_large(key.size(), value_size)) {
      out_string(conn, "SERVER_ERROR object too large for cache");
      counters(conn)[&CommandStats::store_too_large].add();
    } else {
      out_string(conn, "SERVER_ERROR out of memory storing object");
      counters(conn)[&CommandStats::store_no_memory].add();
    }
    // A failed set must not leave the old value behind (memcached does the same).
    if (mode == StoreMode::set) store.remove(key);
    return Action::swallow(used, value_size + 2);
  }
  pending_ = std::move(item);
  pending_mode_ = mode;
  pending_cas_ = compare;
  return Action::read_body_into(used, pending_->value_with_crlf());
}

Action TextHandler::on_body(Connection& conn, std::span<char> body) {
  ItemRef item = std::move(pending_);
  CommandCounters& stats = counters(conn);
  stats[&CommandStats::cmd_set].add();
  const bool meta = meta_set_.active;
  meta_set_.active = false;
  const std::size_t n = body.size();
  if (n < 2 || body[n - 2] != '\r' || body[n - 1] != '\n') {
    if (meta) noreply_ = false;  // meta sets always report errors
    out_string(conn, "CLIENT_ERROR bad data chunk");
    return Action::consumed(0);
  }
  const StoreResult result = endpoint_.store().store(item, pending_mode_, pending_cas_, meta && meta_set_.set_stale);
  if (pending_mode_ == StoreMode::cas) {
    if (result == StoreResult::stored) stats[&CommandStats::cas_hits].add();
    if (result == StoreResult::exists) stats[&CommandStats::cas_badval].add();
    if (result == StoreResult::not_found) stats[&CommandStats::cas_misses].add();
  }
  if (meta) {
    finish_meta_set(conn, item, result);
    return Action::consumed(0);
  }
  switch (result) {
    case StoreResult::stored: out_string(conn, "STORED"); break;
    case StoreResult::exists: out_string(conn, "EXISTS"); break;
    case StoreResult::not_found: out_string(conn, "NOT_FOUND"); break;
    case StoreResult::not_stored: out_string(conn, "NOT_STORED"); break;
    case StoreResult::no_memory: out_string(conn, "SERVER_ERROR out of memory storing object"); break;
  }
  return Action::consumed(0);
}

void TextHandler::process_delete(Connection& conn, const Tokens& t) {
  if (t.count > 3) {
    const bool hold_is_zero = t.token[2] == "0";
    const bool sets_noreply = set_noreply_maybe(t);
    const bool valid = (t.count == 4 && (hold_is_zero || sets_noreply)) || (t.count == 5 && hold_is_zero && sets_noreply);
    if (!valid) {
      out_string(conn, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
      return;
    }
  }
  const std::string_view key = t.token[1];
  if (key.size() > max_key_length) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return;
  }
  if (endpoint_.store().remove(key)) {
    counters(conn)[&CommandStats::delete_hits].add();
    out_string(conn, "DELETED");
  } else {
    counters(conn)[&CommandStats::delete_misses].add();
    out_string(conn, "NOT_FOUND");
  }
}

void TextHandler::process_arithmetic(Connection& conn, const Tokens& t, bool increment) {
  set_noreply_maybe(t);
  const std::string_view key = t.token[1];
  if (key.size() > max_key_length) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return;
  }
  std::uint64_t delta = 0;
  if (!safe_strtoull(t.token[2], delta)) {
    out_string(conn, "CLIENT_ERROR invalid numeric delta argument");
    return;
  }
  std::uint64_t value = 0;
  CommandCounters& stats = counters(conn);
  switch (endpoint_.store().arithmetic(key, increment, delta, value)) {
    case ArithResult::ok: {
      (increment ? stats[&CommandStats::incr_hits] : stats[&CommandStats::decr_hits]).add();
      char digits[24];
      const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
      out_string(conn, std::string_view(digits, static_cast<std::size_t>(end - digits)));
      break;
    }
    case ArithResult::non_numeric:
      out_string(conn, "CLIENT_ERROR cannot increment or decrement non-numeric value");
      break;
    case ArithResult::no_memory:
      out_string(conn, "SERVER_ERROR out of memory");
      break;
    case ArithResult::exists:  // only with a CAS check, which incr/decr never ask for
    case ArithResult::not_found:
      (increment ? stats[&CommandStats::incr_misses] : stats[&CommandStats::decr_misses]).add();
      out_string(conn, "NOT_FOUND");
      break;
  }
}

void TextHandler::process_touch(Connection& conn, const Tokens& t) {
  set_noreply_maybe(t);
  const std::string_view key = t.token[1];
  if (key.size() > max_key_length) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return;
  }
  std::int32_t exptime = 0;
  if (!safe_strtol(t.token[2], exptime)) {
    out_string(conn, "CLIENT_ERROR invalid exptime argument");
    return;
  }
  CommandCounters& stats = counters(conn);
  stats[&CommandStats::cmd_touch].add();
  if (endpoint_.store().touch(key, exptime)) {
    stats[&CommandStats::touch_hits].add();
    out_string(conn, "TOUCHED");
  } else {
    stats[&CommandStats::touch_misses].add();
    out_string(conn, "NOT_FOUND");
  }
}

void TextHandler::process_flush_all(Connection& conn, const Tokens& t) {
  set_noreply_maybe(t);
  counters(conn)[&CommandStats::cmd_flush].add();
  if (!endpoint_.options().flush_enabled) {
    out_string(conn, "CLIENT_ERROR flush_all not allowed");
    return;
  }
  std::int32_t exptime = 0;
  if (t.count != (noreply_ ? 3u : 2u) && !safe_strtol(t.token[1], exptime)) {
    out_string(conn, "CLIENT_ERROR invalid exptime argument");
    return;
  }
  Store& store = endpoint_.store();
  std::int64_t delay = 0;
  if (exptime > 0) {
    const std::int64_t at = store.absolute_exptime(exptime);
    delay = at > 0 ? at - store.now() : 0;
  }
  store.flush_all(delay);
  out_string(conn, "OK");
}

void TextHandler::process_verbosity(Connection& conn, const Tokens& t) {
  set_noreply_maybe(t);
  std::uint32_t level = 0;
  if (!safe_strtoul(t.token[1], level)) {
    out_string(conn, "CLIENT_ERROR bad command line format");
    return;
  }
  conn.set_verbosity(static_cast<int>(std::min(level, max_verbosity)));  // server-wide, as memcached's
  out_string(conn, "OK");
}

void TextHandler::process_stats(Connection& conn, const Tokens& t) {
  const std::string_view sub = t.count > 2 ? t.token[1] : std::string_view();
  std::string text;
  if (t.count == 2) {
    text = general_stats(endpoint_, loads_);
  } else if (sub == "settings") {
    text = settings_stats(endpoint_, conn.verbosity());
  } else if (sub == "conns") {
    text = conns_stats(endpoint_);
  } else if (sub == "reset") {
    endpoint_.reset_stats();
    out_string(conn, "RESET");
    return;
  } else {
    out_string(conn, "ERROR");
    return;
  }
  text += "END\r\n";
  conn.reply(text);
}

}  // namespace connkit::cache::detail
