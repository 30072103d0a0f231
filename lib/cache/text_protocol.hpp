#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/connection.hpp>
#include <connkit/protocol_handler.hpp>

#include "text_tokens.hpp"

namespace connkit::cache::detail {

class LoadTable;

/// memcached's text protocol (proto_text.c) as a connkit protocol handler: one per connection.
/// Values are read straight into the new item (read_body_into) and sent zero-copy from it.
/// With a load table (the endpoint has a loader) a get or mg miss waits for the key's load.
class TextHandler final : public ProtocolHandler {
 public:
  TextHandler(Endpoint& endpoint, LoadTable* loads) : endpoint_(endpoint), loads_(loads) {}

  Action on_input(Connection& conn, std::span<const char> input) override;
  Action on_body(Connection& conn, std::span<char> body) override;
  Action on_input_too_large(Connection& conn) override;
  void on_close(Connection& conn, boost::system::error_code reason) noexcept override;
  std::string_view protocol_name() const noexcept override { return "ascii"; }

 private:
  Action process(Connection& conn, std::string_view line, std::size_t used);
  Action process_get(Connection& conn, const Tokens& t, std::size_t used, bool cas, bool touch);
  Action process_update(Connection& conn, const Tokens& t, std::size_t used, StoreMode mode);
  void process_delete(Connection& conn, const Tokens& t);
  void process_arithmetic(Connection& conn, const Tokens& t, bool increment);
  void process_touch(Connection& conn, const Tokens& t);
  void process_flush_all(Connection& conn, const Tokens& t);
  void process_verbosity(Connection& conn, const Tokens& t);
  void process_stats(Connection& conn, const Tokens& t);

  // The meta protocol (meta_protocol.cpp).
  struct MetaFlags;
  const char* meta_preparse(Tokens& t, std::size_t start, MetaFlags& flags);
  /// md/ma: checks the line and parses flags; false after queuing the error reply.
  bool meta_prologue(Connection& conn, Tokens& t, MetaFlags& flags);
  Action process_meta_get(Connection& conn, Tokens t, std::size_t used);
  Action process_meta_set(Connection& conn, Tokens t, std::size_t used);
  void process_meta_delete(Connection& conn, Tokens t);
  void process_meta_arithmetic(Connection& conn, Tokens t);
  void process_meta_debug(Connection& conn, Tokens t);
  void finish_meta_set(Connection& conn, const ItemRef& item, StoreResult result);
  /// Queues an error even under noreply (memcached's out_errstring).
  void out_errstring(Connection& conn, std::string_view text) {
    noreply_ = false;
    out_string(conn, text);
  }

  /// Queues "text\r\n" unless the command said noreply (memcached's out_string).
  void out_string(Connection& conn, std::string_view text);
  bool set_noreply_maybe(const Tokens& t) noexcept;
  CommandCounters& counters(const Connection& conn);

  Endpoint& endpoint_;
  LoadTable* const loads_;  // null without a loader
  ItemRef pending_;  // the item a storage command is reading its value into
  StoreMode pending_mode_ = StoreMode::set;
  std::uint64_t pending_cas_ = 0;
  bool noreply_ = false;
  bool first_input_ = true;

  // A meta set's reply tokens, stashed until its value has arrived (O, k, c in request order).
  struct MetaSetReply {
    bool active = false;
    bool set_stale = false;
    bool key_binary = false;
    char order[3] = {};
    std::size_t count = 0;
    char opaque[33] = {};
    std::size_t opaque_size = 0;
  };
  MetaSetReply meta_set_;
};

}  // namespace connkit::cache::detail
