#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/connection.hpp>
#include <connkit/protocol_handler.hpp>

#include "binary_sasl.hpp"
#include "executor.hpp"
#include "incoming_value.hpp"
#include "request.hpp"

namespace connkit::cache::detail {

class LoadTable;

/// memcached's binary protocol (proto_bin.c) as a connkit protocol handler: one per
/// connection. parse_binary() reads a request, an Executor runs it, binary_compose.hpp
/// writes the reply. Values are read straight into the new item and sent zero-copy from it.
/// Quiet requests (GETQ, SETQ, ...) send nothing on success (a quiet get nothing on a miss);
/// their replies wait in the connection's output with the others of the same read.
///
/// Read-through: a binary get miss is a miss even with a loader (only text and meta gets
/// wait for a load).
class BinaryHandler final : public ProtocolHandler {
 public:
  BinaryHandler(Endpoint& endpoint, LoadTable* loads) : endpoint_(endpoint), loads_(loads) {}

  Action on_input(Connection& conn, std::span<const char> input) override;
  Action on_body(Connection& conn, std::span<char> body) override;
  void on_close(Connection& conn, boost::system::error_code reason) noexcept override;
  std::string_view protocol_name() const noexcept override { return "binary"; }

 private:
  Action refuse(Connection& conn);
  void process_get(Connection& conn, Executor& exec);
  Action process_update(Connection& conn, Executor& exec);
  void process_delete(Connection& conn, Executor& exec);
  void process_arithmetic(Connection& conn, Executor& exec);
  void process_flush(Connection& conn, Executor& exec);
  void process_stat(Connection& conn);
  void without_cas() noexcept;
  std::uint64_t reply_cas(const Item& item) const noexcept;

  Endpoint& endpoint_;
  LoadTable* const loads_;  // null without a loader; only `stats` reads it
  Request request_;         // the request being served; its views die with on_input's input
  std::size_t available_ = 0;  // bytes of input on_input was given (the value may follow the header)
  IncomingValue incoming_;     // a storage command's value on its way in
  SaslSession sasl_;           // -S: SASL requests, and the gate before authentication
};

}  // namespace connkit::cache::detail
