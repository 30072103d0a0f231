#include "auth.hpp"
#include "text_protocol.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include "class_stats_text.hpp"
#include "item.hpp"
#include "numbers.hpp"
#include "prefix_stats.hpp"
#include "read_through.hpp"
#include "reply_log.hpp"
#include "stats_text.hpp"
#include "text_parser.hpp"
#include "value_reply.hpp"

namespace connkit::cache::detail {
namespace {

constexpr unsigned max_verbosity = 2;  // memcached's MAX_VERBOSITY_LEVEL

}  // namespace

// Indexed by Command: which function runs each request.
const TextHandler::Run TextHandler::run_table[] = {
    &TextHandler::run_unknown,          // unknown
    &TextHandler::run_get,              // get
    &TextHandler::run_get,              // gets
    &TextHandler::run_get,              // gat
    &TextHandler::run_get,              // gats
    &TextHandler::run_storage,          // set
    &TextHandler::run_storage,          // add
    &TextHandler::run_storage,          // replace
    &TextHandler::run_storage,          // append
    &TextHandler::run_storage,          // prepend
    &TextHandler::run_storage,          // cas
    &TextHandler::run_delete,           // del
    &TextHandler::run_arithmetic,       // incr
    &TextHandler::run_arithmetic,       // decr
    &TextHandler::run_touch,            // touch
    &TextHandler::run_flush_all,        // flush_all
    &TextHandler::run_version,          // version
    &TextHandler::run_verbosity,        // verbosity
    &TextHandler::run_stats,            // stats
    &TextHandler::run_quit,             // quit
    &TextHandler::run_shutdown,         // shutdown
    &TextHandler::run_noop,             // noop
    &TextHandler::run_meta_get,         // meta_get
    &TextHandler::run_meta_set,         // meta_set
    &TextHandler::run_meta_delete,      // meta_delete
    &TextHandler::run_meta_arithmetic,  // meta_arithmetic
    &TextHandler::run_meta_debug,       // meta_debug
    &TextHandler::run_cache_memlimit,   // cache_memlimit
    &TextHandler::run_lru_crawler,      // lru_crawler
};

Executor TextHandler::executor(const Connection& conn) {
  return Executor(endpoint_, endpoint_.counters(conn.worker_index()));
}

void TextHandler::out_string(Connection& conn, std::string_view text) {
  if (verbose_) log_reply(conn, text, noreply_);
  out_line(conn, text);
}

void TextHandler::out_line(Connection& conn, std::string_view text) {
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
  if (!conn.authenticated()) return ascii_login(conn, input, endpoint_.auth_file());  // -Y
  endpoint_.store().maybe_reclaim();
  available_ = input.size();
  Request r;
  const ParseLimits limits{endpoint_.options().max_line, endpoint_.store().options().item_size_max};
  const ParseStatus status = parse_text(input, r, limits);
  if (status == ParseStatus::need_more) return Action::need_more();
  verbose_ = conn.verbosity() > 1;  // read once a request: out_string and run_get test the flag
  if (verbose_ && r.size > 0) {
    std::size_t end = r.size - 1;
    if (end > 0 && input[end - 1] == '\r') --end;
    char message[128];
    std::snprintf(message, sizeof message, "<%d %.*s", conn.native_handle(),
                  static_cast<int>(std::min<std::size_t>(end, 100)), input.data());
    conn.log(2, message);
  }
  noreply_ = r.noreply;
  if (status == ParseStatus::error) {
    // Replies to the commands before this one in the same read are still sent.
    if (r.close) return Action::write_and_close(0);
    if (!r.error.empty()) out_string(conn, r.error);
    noreply_ = false;
    return r.swallow != 0 ? Action::swallow(r.size, r.swallow) : Action::consumed(r.size);
  }
  static_assert(std::size(run_table) == static_cast<std::size_t>(Command::lru_crawler) + 1,
                "one entry per Command, in the enum's order");
  Executor exec = executor(conn);
  return (this->*run_table[static_cast<std::size_t>(r.command)])(conn, exec, r);
}

Action TextHandler::on_input_too_large(Connection& conn) {
  noreply_ = false;
  out_string(conn, "SERVER_ERROR out of memory reading request");
  return Action::write_and_close();
}

void TextHandler::on_close(Connection&, boost::system::error_code) noexcept {
  incoming_.reset();
  pending_ = PendingStore{};
  noreply_ = false;
  verbose_ = false;
}

Action TextHandler::run_unknown(Connection& conn, Executor&, Request& r) {
  out_string(conn, "ERROR");
  return Action::consumed(r.size);
}

Action TextHandler::run_get(Connection& conn, Executor& exec, Request& r) {
  const bool touch = r.command == Command::gat || r.command == Command::gats;
  const bool return_cas = r.command == Command::gets || r.command == Command::gats;
  const bool cas_enabled = endpoint_.options().cas_enabled;
  bool deferred = false;
  for (std::string_view rest = r.keys; !rest.empty();) {
    const std::size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view key = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (key.empty()) continue;
    Miss why = Miss::none;
    ItemRef item = touch ? exec.get_and_touch(key, r.exptime) : exec.get(key, &why);
    if (!item && loads_ != nullptr) {
      // Read-through: this key's place in the reply waits for its load.
      LoadWaiter waiter;
      waiter.form = return_cas ? LoadWaiter::Form::value_cas : LoadWaiter::Form::value;
      item = loads_->await(conn, key, std::move(waiter));
      deferred = deferred || !item;
    }
    if (!item) continue;
    if (verbose_) log_sending_key(conn, key);
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
  }
  if (verbose_) log_reply(conn, "END", false);
  conn.reply("END\r\n");  // copied: it joins the segment before it
  return deferred ? Action::defer(r.size) : Action::consumed(r.size);
}

Action TextHandler::begin_value(Connection& conn, Executor& exec, Request& r) {
  exec.begin_store(r);
  const IncomingValue::Begin begun = incoming_.begin(exec.store(), endpoint_.staging(), r.key, r.flags, r.exptime,
                                                     r.value_size, 2, available_ - r.size);
  if (begun != IncomingValue::Begin::ready) {
    const bool too_large = begun == IncomingValue::Begin::too_large;
    exec.refuse_store(r, too_large);
    if (r.command == Command::meta_set) noreply_ = false;  // meta sets always report errors
    out_string(conn, too_large ? "SERVER_ERROR object too large for cache" : "SERVER_ERROR out of memory storing object");
    return Action::swallow(r.size, r.value_size + 2);
  }
  pending_.mode = r.mode;
  pending_.cas = r.cas;
  pending_.set_stale = r.set_stale;
  pending_.noreply = r.noreply;
  noreply_ = false;
  return Action::read_body_into(r.size, incoming_.destination());
}

Action TextHandler::run_storage(Connection& conn, Executor& exec, Request& r) {
  pending_.meta = false;
  return begin_value(conn, exec, r);
}

Action TextHandler::on_body(Connection& conn, std::span<char> body) {
  Executor exec = executor(conn);
  noreply_ = pending_.noreply;
  const bool meta = pending_.meta;
  pending_.meta = false;
  const std::size_t n = body.size();
  if (n < 2 || body[n - 2] != '\r' || body[n - 1] != '\n') {
    incoming_.reset();
    exec.counters()[&CommandStats::cmd_set].add();  // memcached counts the set it refuses
    if (meta) noreply_ = false;                      // meta sets always report errors
    out_string(conn, "CLIENT_ERROR bad data chunk");
    return Action::consumed(0);
  }
  ItemRef item = incoming_.finish(exec.store());
  if (!item) {  // a staged value found no memory once complete
    exec.refuse_store(incoming_.key(), pending_.mode == StoreMode::set || meta, false);
    if (meta) noreply_ = false;
    out_string(conn, "SERVER_ERROR out of memory storing object");
    return Action::consumed(0);
  }
  if (meta) header(*item).key_binary = pending_.key_binary;
  const StoreResult result = exec.store_item(item, pending_.mode, pending_.cas, pending_.set_stale);
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

Action TextHandler::run_delete(Connection& conn, Executor& exec, Request& r) {
  out_string(conn, exec.remove(r.key) ? "DELETED" : "NOT_FOUND");
  return Action::consumed(r.size);
}

Action TextHandler::run_arithmetic(Connection& conn, Executor& exec, Request& r) {
  const ArithOutcome outcome = exec.arithmetic(r);
  switch (outcome.result) {
    case ArithResult::ok: {
      char digits[24];
      const auto end = std::to_chars(digits, digits + sizeof digits, outcome.value).ptr;
      out_string(conn, std::string_view(digits, static_cast<std::size_t>(end - digits)));
      break;
    }
    case ArithResult::non_numeric:
      out_string(conn, "CLIENT_ERROR cannot increment or decrement non-numeric value");
      break;
    case ArithResult::no_memory:
      out_string(conn, "SERVER_ERROR out of memory");
      break;
    case ArithResult::exists:  // only with a CAS check, which text incr/decr never ask for
    case ArithResult::not_found:
      out_string(conn, "NOT_FOUND");
      break;
  }
  return Action::consumed(r.size);
}

Action TextHandler::run_touch(Connection& conn, Executor& exec, Request& r) {
  out_string(conn, exec.touch(r.key, r.exptime) ? "TOUCHED" : "NOT_FOUND");
  return Action::consumed(r.size);
}

Action TextHandler::run_flush_all(Connection& conn, Executor& exec, Request& r) {
  // memcached counts the command, then checks that flush is allowed, then its delay.
  if (!endpoint_.options().flush_enabled) {
    exec.counters()[&CommandStats::cmd_flush].add();
    out_string(conn, "CLIENT_ERROR flush_all not allowed");
  } else if (!r.error.empty()) {
    exec.counters()[&CommandStats::cmd_flush].add();
    out_string(conn, r.error);
  } else {
    exec.flush_all(r);
    out_string(conn, "OK");
  }
  return Action::consumed(r.size);
}

Action TextHandler::run_version(Connection& conn, Executor&, Request& r) {
  const std::string& version = endpoint_.options().version;
  std::span<char> room = conn.reply_space(8 + version.size() + 2);
  std::memcpy(room.data(), "VERSION ", 8);
  std::memcpy(room.data() + 8, version.data(), version.size());
  std::memcpy(room.data() + 8 + version.size(), "\r\n", 2);
  conn.commit_reply(8 + version.size() + 2);
  if (verbose_) log_reply(conn, std::string_view(room.data(), 8 + version.size()), false);
  return Action::consumed(r.size);
}

Action TextHandler::run_verbosity(Connection& conn, Executor&, Request& r) {
  conn.set_verbosity(static_cast<int>(std::min(r.level, max_verbosity)));  // server-wide, as memcached's
  out_string(conn, "OK");
  return Action::consumed(r.size);
}

Action TextHandler::run_stats(Connection& conn, Executor&, Request& r) {
  const std::string_view sub = r.argument.substr(0, std::min(r.argument.find(' '), r.argument.size()));
  std::string text;
  if (r.argument.empty()) {
    text = general_stats(endpoint_, loads_);
  } else if (sub == "settings") {
    text = settings_stats(endpoint_, conn.verbosity());
  } else if (sub == "conns") {
    text = conns_stats(endpoint_);
  } else if (sub == "slabs") {
    text = slabs_stats(endpoint_);
  } else if (sub == "items") {
    text = items_stats(endpoint_);
  } else if (sub == "sizes") {
    text = sizes_stats();
  } else if (sub == "cachedump") {
    conn.reply(cachedump(endpoint_.store(), r.argument.substr(sub.size()), endpoint_.options().dump_enabled));
    return Action::consumed(r.size);
  } else if (sub == "detail") {
    return run_stats_detail(conn, r);
  } else if (sub == "reset") {
    endpoint_.reset_stats();
    out_string(conn, "RESET");
    return Action::consumed(r.size);
  } else {
    out_string(conn, "ERROR");
    return Action::consumed(r.size);
  }
  text += "END\r\n";
  conn.reply(text);
  return Action::consumed(r.size);
}

Action TextHandler::run_stats_detail(Connection& conn, Request& r) {
  // "detail" and its first argument (memcached ignores the rest).
  std::string_view rest = r.argument.substr(std::min(r.argument.find(' '), r.argument.size()));
  rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
  const std::string_view what = rest.substr(0, std::min(rest.find(' '), rest.size()));
  PrefixStats& prefixes = endpoint_.prefix_stats();
  if (what == "on" || what == "off") {
    prefixes.enable(what == "on");
    out_string(conn, "OK");
  } else if (what == "dump") {
    conn.reply(prefixes.dump());
  } else {
    out_string(conn, "CLIENT_ERROR usage: stats detail on|off|dump");
  }
  return Action::consumed(r.size);
}

Action TextHandler::run_quit(Connection&, Executor&, Request& r) { return Action::write_and_close(r.size); }

Action TextHandler::run_shutdown(Connection& conn, Executor&, Request& r) {
  const auto& shutdown = endpoint_.options().shutdown;
  if (!shutdown) {
    out_string(conn, "ERROR: shutdown not enabled");
  } else if (r.argument.empty() || r.argument == "graceful") {
    shutdown(r.argument.empty() ? ShutdownMode::immediate : ShutdownMode::graceful);
    return Action::close();  // memcached closes the asking connection without a reply
  } else {
    out_string(conn, "CLIENT_ERROR invalid shutdown mode");
  }
  return Action::consumed(r.size);
}

Action TextHandler::run_noop(Connection& conn, Executor&, Request& r) {
  out_string(conn, "MN");
  return Action::consumed(r.size);
}

}  // namespace connkit::cache::detail
