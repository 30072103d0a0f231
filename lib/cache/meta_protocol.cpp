// memcached's meta commands (mg, ms, md, ma, me; mn is in text_protocol.cpp), following
// proto_text.c's process_m*_command and doc/protocol.txt: parse_text() made the Request,
// the Executor runs it, and the replies are composed here.

#include <algorithm>
#include <charconv>
#include <cstring>

#include "base64.hpp"
#include "meta_reply.hpp"
#include "read_through.hpp"
#include "text_protocol.hpp"

namespace connkit::cache::detail {

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

Action TextHandler::run_meta_get(Connection& conn, Executor& exec, Request& r) {
  const MetaFlags& of = r.meta;
  const std::span<const std::string_view> flags = of.flags();
  MetaGetResult seen;
  Miss why = Miss::none;
  ItemRef item = exec.meta_get(r, seen, &why);
  const std::int64_t now = exec.store().now();
  const bool hit = static_cast<bool>(item);
  MetaLine line;
  if (!hit) {
    exec.count_meta_miss(r, why);
    if (!compose_meta_miss(line, flags, r.key, of.key_binary)) {
      out_errstring(conn, "CLIENT_ERROR opaque token too long");
      return Action::consumed(r.size);
    }
    if (loads_ == nullptr) {
      out_line(conn, line.view());  // elided under q
      return Action::consumed(r.size);
    }
    // Read-through: the reply waits for the key's load, its flag tokens copied for then.
    const char* first = flags.empty() ? nullptr : flags.front().data();
    const char* last = flags.empty() ? nullptr : flags.back().data() + flags.back().size();
    LoadWaiter waiter;
    waiter.form = LoadWaiter::Form::meta;
    waiter.meta_value = of.value;
    waiter.meta_quiet = of.quiet;
    waiter.key_binary = of.key_binary;
    if (first != nullptr) waiter.meta_flags.assign(first, static_cast<std::size_t>(last - first));
    item = loads_->await(conn, r.key, std::move(waiter));
    noreply_ = false;
    if (!item) return Action::defer(r.size);
    seen = loaded_item_seen(*item, now);  // loaded since this request missed: a hit after all
    line = MetaLine();
  }
  if (!compose_meta_hit(line, flags, *item, seen, now, of.value, of.key_binary)) {
    out_errstring(conn, "CLIENT_ERROR opaque token too long");
    return Action::consumed(r.size);
  }
  noreply_ = false;
  conn.reply(line.view());
  if (of.value) conn.reply_ref(item->value_with_crlf(), item->owner());
  return Action::consumed(r.size);
}

Action TextHandler::run_meta_set(Connection& conn, Executor& exec, Request& r) {
  PendingStore& p = pending_;
  p.meta = true;
  p.key_binary = r.meta.key_binary;
  p.count = 0;
  p.opaque_size = 0;
  for (const std::string_view token : r.meta.flags()) {
    const char c = token[0];
    if (c == 'O') {  // its length was checked by the parser
      std::memcpy(p.opaque, token.data(), token.size());
      p.opaque_size = token.size();
    }
    if ((c == 'O' || c == 'k' || c == 'c') && p.count < 3) p.order[p.count++] = c;
  }
  return begin_value(conn, exec, r);
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
  for (std::size_t i = 0; i < pending_.count; ++i) {
    switch (pending_.order[i]) {
      case 'O':
        line.text(" ");
        line.text(std::string_view(pending_.opaque, pending_.opaque_size));
        break;
      case 'k': line.key(item->key(), pending_.key_binary); break;
      case 'c': line.flag('c', result == StoreResult::stored ? item->cas() : 0); break;
      default: break;
    }
  }
  out_line(conn, line.view());
}

/// The O and k return flags of md and ma: " O..." and " k..." in request order.
static void opaque_and_key(MetaLine& line, const Request& r) {
  for (const std::string_view token : r.meta.flags()) {
    if (token[0] == 'O') {
      line.text(" ");
      line.text(token);
    } else if (token[0] == 'k') {
      line.key(r.key, r.meta.key_binary);
    }
  }
}

Action TextHandler::run_meta_delete(Connection& conn, Executor& exec, Request& r) {
  const MetaDeleteResult result = exec.meta_delete(r);
  MetaLine line;
  if (result == MetaDeleteResult::deleted) {
    line.text("HD");
  } else {
    line.text(result == MetaDeleteResult::exists ? "EX" : "NF");
    noreply_ = false;  // q elides only the nominal reply
  }
  opaque_and_key(line, r);
  out_line(conn, line.view());
  return Action::consumed(r.size);
}

Action TextHandler::run_meta_arithmetic(Connection& conn, Executor& exec, Request& r) {
  std::int64_t ttl_at[max_meta_ttl_flags] = {};
  const ArithOutcome outcome = exec.meta_arithmetic(r, ttl_at);
  MetaLine line;
  switch (outcome.result) {
    case ArithResult::ok:
      if (outcome.created) noreply_ = false;  // memcached elides only the reply for an existing item
      break;
    case ArithResult::non_numeric:
      out_errstring(conn, "CLIENT_ERROR cannot increment or decrement non-numeric value");
      return Action::consumed(r.size);
    case ArithResult::no_memory:
      out_errstring(conn, "SERVER_ERROR out of memory");
      return Action::consumed(r.size);
    case ArithResult::not_found:
      line.text("NF");
      noreply_ = false;
      break;
    case ArithResult::exists:
      line.text("EX");
      noreply_ = false;
      break;
  }
  const ItemRef& item = outcome.item;
  char digits[24];
  const std::string_view number(
      digits, static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, outcome.value).ptr - digits));
  if (item) {
    if (r.meta.value) {
      line.text("VA ");
      line.number(number.size());
    } else {
      line.text("HD");
    }
  }
  const std::int64_t now = exec.store().now();
  std::size_t ttl_shown = 0;
  for (const std::string_view token : r.meta.flags()) {
    const char c = token[0];
    if (c == 'O') {
      if (token.size() > max_opaque_length) {
        out_errstring(conn, "CLIENT_ERROR opaque token too long");
        return Action::consumed(r.size);
      }
      line.text(" ");
      line.text(token);
    } else if (c == 'k') {
      line.key(r.key, r.meta.key_binary);
    } else if (item && c == 'c') {
      line.flag('c', item->cas());
    } else if (item && c == 't') {
      put_ttl(line, ttl_at[std::min(ttl_shown++, max_meta_ttl_flags - 1)], now);
    }
  }
  if (item && r.meta.value) {
    line.text("\r\n");
    line.text(number);
  }
  out_line(conn, line.view());
  return Action::consumed(r.size);
}

Action TextHandler::run_meta_debug(Connection& conn, Executor& exec, Request& r) {
  exec.counters()[&CommandStats::cmd_meta].add();  // memcached 1.6.18's cmd_meta counts `me` only
  MetaGetRequest request;
  request.no_update = true;
  MetaGetResult seen;
  ItemRef item = exec.store().meta_get(r.key, request, seen);
  if (!item) {
    out_string(conn, "EN");
    return Action::consumed(r.size);
  }
  const std::int64_t now = exec.store().now();
  MetaLine line;
  // memcached names the key as it was stored: in base64 if a meta set gave it so (whether or
  // not this request used b).
  line.text("ME ");
  if (item->key_binary()) {
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
  // Items above the largest class count in it, as memcached chains that class's chunks.
  line.number(item->slab_class() != 0 ? item->slab_class() : static_cast<unsigned>(exec.store().slab_classes()));
  line.text(" size=");
  line.number(item->total_size());
  out_line(conn, line.view());
  return Action::consumed(r.size);
}

}  // namespace connkit::cache::detail
