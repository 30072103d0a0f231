#include "binary_protocol.hpp"

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "binary_compose.hpp"
#include "binary_parser.hpp"
#include "class_stats_text.hpp"
#include "prefix_stats.hpp"
#include "stats_text.hpp"

namespace connkit::cache::detail {
namespace {

bool starts_with(std::string_view s, std::string_view word) noexcept { return s.substr(0, word.size()) == word; }

/// What a refused store or a failed link answers (complete_update_bin): ADD's "not stored"
/// means the key exists, REPLACE's that it does not.
BinaryStatus not_stored_status(const Request& r) noexcept {
  if (r.mode == StoreMode::add) return BinaryStatus::key_eexists;
  if (r.mode == StoreMode::replace) return BinaryStatus::key_enoent;
  return BinaryStatus::not_stored;
}

}  // namespace

void BinaryHandler::without_cas() noexcept {
  // With -C memcached's items keep no CAS (ITEM_get_cas is 0, ITEM_set_cas does nothing).
  // A storage request's CAS is then dropped unread; DELETE, INCREMENT and DECREMENT still
  // compare theirs with the item's 0, so any non-zero CAS fails against an item that exists.
  Request& r = request_;
  if (r.cas == 0) return;
  switch (r.command) {
    case Command::set: r.mode = StoreMode::set; break;
    case Command::add: r.mode = StoreMode::add; break;
    case Command::replace: r.mode = StoreMode::replace; break;
    case Command::del:
    case Command::incr:
    case Command::decr:
      r.cas = std::numeric_limits<std::uint64_t>::max();  // no item's CAS reaches it: a mismatch
      return;
    default: break;
  }
  r.cas = 0;
}

std::uint64_t BinaryHandler::reply_cas(const Item& item) const noexcept {
  return endpoint_.options().cas_enabled ? item.cas() : 0;
}

Action BinaryHandler::on_input(Connection& conn, std::span<const char> input) {
  endpoint_.store().maybe_reclaim();
  if (endpoint_.options().sasl) {
    if (std::optional<Action> sasl = sasl_.on_input(conn, input, endpoint_)) return *sasl;
  }
  available_ = input.size();
  const ParseLimits limits{endpoint_.options().max_line, endpoint_.store().options().item_size_max};
  switch (parse_binary(input, request_, limits)) {
    case ParseStatus::need_more: return Action::need_more();
    case ParseStatus::error: return refuse(conn);
    case ParseStatus::complete: break;
  }
  if (!endpoint_.options().cas_enabled) without_cas();
  const Request& r = request_;
  Executor exec(endpoint_, endpoint_.counters(conn.worker_index()));
  switch (r.command) {
    case Command::get:
    case Command::gat:
    case Command::touch:
      process_get(conn, exec);
      break;
    case Command::set:
    case Command::add:
    case Command::replace:
    case Command::append:
    case Command::prepend:
      return process_update(conn, exec);
    case Command::del: process_delete(conn, exec); break;
    case Command::incr:
    case Command::decr:
      process_arithmetic(conn, exec);
      break;
    case Command::flush_all: process_flush(conn, exec); break;
    case Command::stats: process_stat(conn); break;
    case Command::noop: bin_response(conn, r, BinaryStatus::success); break;
    case Command::version:
      bin_response(conn, r, BinaryStatus::success, {}, {}, endpoint_.options().version);
      break;
    case Command::quit:
      // QUITQ sends nothing, but what is queued before it still goes out.
      if (!r.noreply) bin_response(conn, r, BinaryStatus::success);
      return Action::write_and_close(r.size);
    default:
      return Action::close();  // parse_binary completes no other command
  }
  return Action::consumed(r.size);
}

Action BinaryHandler::refuse(Connection& conn) {
  const Request& r = request_;
  if (r.binary_status == 0) {
    conn.log(1, "Invalid magic: closing the binary connection");
    return Action::close();  // memcached closes without a word, dropping what is queued
  }
  bin_error(conn, r, static_cast<BinaryStatus>(r.binary_status));
  if (!r.close) return Action::swallow(r.size, r.value_size);  // an unknown command
  if (conn.verbosity() > 0) {
    char line[96];
    std::snprintf(line, sizeof line, "Protocol error (opcode %02x), close connection %d", r.binary.opcode,
                  conn.native_handle());
    conn.log(1, line);
  }
  return Action::write_and_close();
}

void BinaryHandler::on_close(Connection&, boost::system::error_code) noexcept {
  incoming_.reset();
  sasl_.reset();
}

void BinaryHandler::process_get(Connection& conn, Executor& exec) {
  const Request& r = request_;
  const ItemRef item = r.command == Command::get ? exec.get(r.key) : exec.get_and_touch(r.key, r.exptime);
  if (item) {
    bin_item(conn, r, *item, r.command != Command::touch, reply_cas(*item));
  } else if (!r.noreply) {
    // A miss of GETK or GATK carries the key (no text); the others say "Not found".
    if (r.binary.with_key) {
      bin_response(conn, r, BinaryStatus::key_enoent, {}, r.key);
    } else {
      bin_error(conn, r, BinaryStatus::key_enoent);
    }
  }
}

Action BinaryHandler::process_update(Connection& conn, Executor& exec) {
  const Request& r = request_;
  exec.begin_store(r);
  const bool joining = r.mode == StoreMode::append || r.mode == StoreMode::prepend;
  // APPEND and PREPEND carry no extras: their piece is made with flags and expiry 0 and
  // takes the old item's. Binary values come without the text protocol's "\r\n".
  const IncomingValue::Begin begun =
      incoming_.begin(exec.store(), endpoint_.staging(), r.key, joining ? 0 : r.flags, joining ? 0 : r.exptime,
                      r.value_size, 0, available_ - r.size);
  if (begun != IncomingValue::Begin::ready) {
    if (begun == IncomingValue::Begin::too_large) {
      bin_error(conn, r, BinaryStatus::e2big);
    } else {
      bin_store_no_memory(conn, r);
    }
    exec.refuse_binary_store(r);
    return Action::swallow(r.size, r.value_size);
  }
  return Action::read_body_into(r.size, incoming_.destination());
}

Action BinaryHandler::on_body(Connection& conn, std::span<char> body) {
  if (sasl_.reading()) return sasl_.on_body(conn, body, endpoint_);
  Request& r = request_;
  Executor exec(endpoint_, endpoint_.counters(conn.worker_index()));
  const ItemRef item = incoming_.finish(exec.store());
  r.key = incoming_.key();  // the parsed key's bytes have been consumed
  if (!item) {  // a staged value found no memory once complete
    bin_store_no_memory(conn, r);
    exec.refuse_binary_store(r);
    return Action::consumed(0);
  }
  switch (exec.store_item(r, item)) {
    case StoreResult::stored:
      if (!r.noreply) bin_response(conn, r, BinaryStatus::success, {}, {}, {}, reply_cas(*item));
      break;
    case StoreResult::exists: bin_error(conn, r, BinaryStatus::key_eexists); break;
    case StoreResult::not_found: bin_error(conn, r, BinaryStatus::key_enoent); break;
    case StoreResult::not_stored:
    case StoreResult::no_memory:
      bin_error(conn, r, not_stored_status(r));
      break;
  }
  return Action::consumed(0);
}

void BinaryHandler::process_delete(Connection& conn, Executor& exec) {
  const Request& r = request_;
  switch (exec.binary_delete(r.key, r.cas)) {
    case MetaDeleteResult::deleted:
      if (!r.noreply) bin_response(conn, r, BinaryStatus::success);
      break;
    case MetaDeleteResult::exists: bin_error(conn, r, BinaryStatus::key_eexists); break;
    case MetaDeleteResult::not_found: bin_error(conn, r, BinaryStatus::key_enoent); break;
  }
}

void BinaryHandler::process_arithmetic(Connection& conn, Executor& exec) {
  const Request& r = request_;
  const ArithOutcome out = exec.arithmetic(r);
  switch (out.result) {
    case ArithResult::ok: {
      if (r.noreply) break;
      char value[8];  // the new value, big-endian
      for (int i = 0; i < 8; ++i) value[i] = static_cast<char>(out.value >> (56 - 8 * i));
      bin_response(conn, r, BinaryStatus::success, {}, {}, {value, sizeof value}, reply_cas(*out.item));
      break;
    }
    case ArithResult::non_numeric: bin_error(conn, r, BinaryStatus::delta_badval); break;
    case ArithResult::no_memory: bin_error(conn, r, BinaryStatus::enomem); break;
    case ArithResult::not_found: bin_error(conn, r, BinaryStatus::key_enoent); break;
    case ArithResult::exists: bin_error(conn, r, BinaryStatus::key_eexists); break;
  }
}

void BinaryHandler::process_flush(Connection& conn, Executor& exec) {
  const Request& r = request_;
  if (!endpoint_.options().flush_enabled) {
    // memcached's process_bin_flush refuses before counting: cmd_flush stays as it was.
    bin_error(conn, r, BinaryStatus::auth_error);
    return;
  }
  exec.flush_all(r);
  if (!r.noreply) bin_response(conn, r, BinaryStatus::success);
}

void BinaryHandler::process_stat(Connection& conn) {
  // process_bin_stat: the group is the key, matched by prefix as memcached's strncmp does.
  // Every answer but an error ends with an empty packet.
  const Request& r = request_;
  const std::string_view group = r.argument;
  if (group.empty()) {
    bin_stat_lines(conn, r, general_stats(endpoint_, loads_));
  } else if (starts_with(group, "reset")) {
    endpoint_.reset_stats();
  } else if (starts_with(group, "settings")) {
    bin_stat_lines(conn, r, settings_stats(endpoint_, conn.verbosity()));
  } else if (starts_with(group, "detail")) {
    // memcached's process_bin_stat: " dump" answers the dump as one "detailed" stat.
    const std::string_view sub = group.substr(6);
    PrefixStats& prefixes = endpoint_.prefix_stats();
    if (starts_with(sub, " dump")) {
      bin_response(conn, r, BinaryStatus::success, {}, "detailed", prefixes.dump());
    } else if (starts_with(sub, " on")) {
      prefixes.enable(true);
    } else if (starts_with(sub, " off")) {
      prefixes.enable(false);
    } else {
      bin_error(conn, r, BinaryStatus::key_enoent);
      return;
    }
  } else if (group == "items") {
    bin_stat_lines(conn, r, items_stats(endpoint_));
  } else if (group == "slabs") {
    bin_stat_lines(conn, r, slabs_stats(endpoint_));
  } else if (group == "sizes") {
    bin_stat_lines(conn, r, sizes_stats());
  } else {
    // "conns" is text-only in memcached too.
    bin_error(conn, r, BinaryStatus::key_enoent);
    return;
  }
  bin_response(conn, r, BinaryStatus::success);
}

}  // namespace connkit::cache::detail
