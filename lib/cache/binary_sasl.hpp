#pragma once

// SASL over memcached's binary protocol (-S; proto_bin.c's SASL commands, sasl_defs.c's
// password database), with the one mechanism served here, PLAIN.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <connkit/cache/endpoint.hpp>
#include <connkit/connection.hpp>
#include <connkit/protocol_handler.hpp>

#include "request.hpp"

namespace connkit::cache::detail {

/// The SASL side of one binary connection: asked first about each request when SASL is on.
/// SASL_LIST_MECHS answers "PLAIN"; SASL_AUTH and SASL_STEP check PLAIN credentials against
/// EndpointOptions::sasl_pwdb ("Authenticated", or status 0x20 "Auth failure."); SASL_AUTH
/// with no data answers status 0x21 (continue) and the credentials come in a SASL_STEP.
/// Before authentication any other request but VERSION is answered "Auth failure." and the
/// connection closes, as memcached's dispatch_bin_command does.
class SaslSession {
 public:
  /// A request the session answers (or waits for more of); nullopt: the usual parse takes it.
  std::optional<Action> on_input(Connection& conn, std::span<const char> input, const Endpoint& endpoint);
  /// True while a SASL_AUTH or SASL_STEP's data is being read: the handler's on_body is ours.
  bool reading() const noexcept { return reading_; }
  /// That data has arrived.
  Action on_body(Connection& conn, std::span<const char> data, const Endpoint& endpoint);
  /// The connection closed: forget the exchange.
  void reset() noexcept;

 private:
  enum class Exchange : std::uint8_t { none, awaiting_credentials, done };
  void finish(Connection& conn, std::string_view data, const Endpoint& endpoint);
  bool verify(std::string_view data, const Endpoint& endpoint) const;

  Request request_;                   // opcode and opaque, for the reply
  char mechanism_[32] = {};           // memcached's MAX_SASL_MECH_LEN
  std::size_t mechanism_size_ = 0;
  bool step_ = false;                 // the request is SASL_STEP
  bool reading_ = false;
  Exchange exchange_ = Exchange::none;
};

}  // namespace connkit::cache::detail
