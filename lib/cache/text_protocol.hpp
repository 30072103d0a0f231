#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/connection.hpp>
#include <connkit/protocol_handler.hpp>

#include "executor.hpp"
#include "incoming_value.hpp"
#include "request.hpp"

namespace connkit::cache::detail {

class LoadTable;

/// memcached's text and meta protocols (proto_text.c) as a connkit protocol handler: one per
/// connection. parse_text() (text_parser.hpp) makes the Request, an Executor runs it, and the
/// functions here compose the replies. Values are received through IncomingValue (straight
/// into the new item when they came with their header) and sent zero-copy from the item. With a load table (the endpoint has a
/// loader) a get or mg miss waits for the key's load.
class TextHandler final : public ProtocolHandler {
 public:
  TextHandler(Endpoint& endpoint, LoadTable* loads) : endpoint_(endpoint), loads_(loads) {}

  Action on_input(Connection& conn, std::span<const char> input) override;
  Action on_body(Connection& conn, std::span<char> body) override;
  Action on_input_too_large(Connection& conn) override;
  void on_close(Connection& conn, boost::system::error_code reason) noexcept override;
  std::string_view protocol_name() const noexcept override { return "ascii"; }

 private:
  /// Runs one parsed request; `used` is its size. Reached through a table by command.
  using Run = Action (TextHandler::*)(Connection& conn, Executor& exec, Request& r);
  static const Run run_table[];

  Action run_unknown(Connection& conn, Executor& exec, Request& r);
  Action run_get(Connection& conn, Executor& exec, Request& r);
  Action run_storage(Connection& conn, Executor& exec, Request& r);
  Action run_delete(Connection& conn, Executor& exec, Request& r);
  Action run_arithmetic(Connection& conn, Executor& exec, Request& r);
  Action run_touch(Connection& conn, Executor& exec, Request& r);
  Action run_flush_all(Connection& conn, Executor& exec, Request& r);
  Action run_version(Connection& conn, Executor& exec, Request& r);
  Action run_verbosity(Connection& conn, Executor& exec, Request& r);
  Action run_stats(Connection& conn, Executor& exec, Request& r);
  Action run_stats_detail(Connection& conn, Request& r);
  Action run_quit(Connection& conn, Executor& exec, Request& r);
  Action run_shutdown(Connection& conn, Executor& exec, Request& r);
  Action run_noop(Connection& conn, Executor& exec, Request& r);
  // The meta commands (meta_protocol.cpp).
  Action run_meta_get(Connection& conn, Executor& exec, Request& r);
  Action run_meta_set(Connection& conn, Executor& exec, Request& r);
  Action run_meta_delete(Connection& conn, Executor& exec, Request& r);
  Action run_meta_arithmetic(Connection& conn, Executor& exec, Request& r);
  Action run_meta_debug(Connection& conn, Executor& exec, Request& r);
  // Operator commands (operator_commands.cpp).
  Action run_cache_memlimit(Connection& conn, Executor& exec, Request& r);
  Action run_lru_crawler(Connection& conn, Executor& exec, Request& r);

  /// A storage command's header was parsed: take memory for its value and read it there, or
  /// answer the refusal and swallow the value.
  Action begin_value(Connection& conn, Executor& exec, Request& r);
  void finish_meta_set(Connection& conn, const ItemRef& item, StoreResult result);

  /// Queues "text\r\n" unless the request said noreply (memcached's out_string), logged
  /// at -vv as ">fd text".
  void out_string(Connection& conn, std::string_view text);
  /// The same, never logged: meta status lines (memcached writes those without out_string).
  void out_line(Connection& conn, std::string_view text);
  /// Queues an error even under noreply (memcached's out_errstring).
  void out_errstring(Connection& conn, std::string_view text) {
    noreply_ = false;
    out_string(conn, text);
  }
  Executor executor(const Connection& conn);

  Endpoint& endpoint_;
  LoadTable* const loads_;  // null without a loader
  bool noreply_ = false;    // the request being answered said noreply (or meta q)
  bool verbose_ = false;    // verbosity was above 1 at the last request: log replies (-vv)
  std::size_t available_ = 0;  // bytes of input on_input was given (the value may follow the header)
  IncomingValue incoming_;     // a storage command's value on its way in

  // What a storage command keeps while its value arrives (the request's views die with its
  // input).
  struct PendingStore {
    StoreMode mode = StoreMode::set;
    std::uint64_t cas = 0;
    bool set_stale = false;
    bool noreply = false;
    bool meta = false;
    // A meta set's reply tokens (O, k, c in request order).
    bool key_binary = false;
    char order[3] = {};
    std::size_t count = 0;
    char opaque[max_opaque_length + 1] = {};
    std::size_t opaque_size = 0;
  };
  PendingStore pending_;
};

}  // namespace connkit::cache::detail
