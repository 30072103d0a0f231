#include "binary_sasl.hpp"

#include <algorithm>
#include <string_view>

#include "auth.hpp"
#include "binary_compose.hpp"
#include "binary_parser.hpp"

namespace connkit::cache::detail {
namespace {

/// PROTOCOL_BINARY_RESPONSE_AUTH_CONTINUE: the mechanism wants another step.
constexpr auto auth_continue = static_cast<BinaryStatus>(0x21);
/// The mechanisms SASL_LIST_MECHS lists (memcached lists whatever its Cyrus SASL offers).
constexpr std::string_view mechanisms = "PLAIN";
/// SASL data at most this long is read; more is refused with "Out of memory" and discarded
/// (memcached's limit is an item's size).
constexpr std::size_t max_sasl_data = 16384;

std::uint32_t read_be(const char* p, int bytes) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}

bool same_mechanism(std::string_view a, std::string_view b) noexcept {
  // Cyrus SASL matches mechanism names without regard to case.
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'a' && x <= 'z' ? x - 32 : x) == (y >= 'a' && y <= 'z' ? y - 32 : y);
         });
}

}  // namespace

std::optional<Action> SaslSession::on_input(Connection& conn, std::span<const char> input, const Endpoint& endpoint) {
  if (input.empty() || static_cast<std::uint8_t>(input[0]) != binary_request_magic) return std::nullopt;
  if (input.size() < binary_header_size) return Action::need_more();
  const char* p = input.data();
  const auto opcode = static_cast<BinaryCommand>(p[1]);
  const std::uint32_t keylen = read_be(p + 2, 2), extlen = static_cast<std::uint8_t>(p[4]);
  const std::uint32_t bodylen = read_be(p + 8, 4);
  // Lengths that cannot add up are refused first, by the usual parse (dispatch_bin_command).
  if (keylen > bodylen || keylen + extlen > bodylen) return std::nullopt;
  request_.binary = BinaryFields{};
  request_.binary.opcode = static_cast<std::uint8_t>(opcode);
  request_.binary.opaque = read_be(p + 12, 4);
  const bool sasl = opcode == BinaryCommand::sasl_list_mechs || opcode == BinaryCommand::sasl_auth ||
                    opcode == BinaryCommand::sasl_step;
  if (!sasl) {
    if (conn.authenticated() || opcode == BinaryCommand::version) return std::nullopt;
    bin_error(conn, request_, BinaryStatus::auth_error);
    return Action::write_and_close();
  }
  // A key past memcached's limit and a malformed request are the usual parse's errors.
  const bool well_formed = opcode == BinaryCommand::sasl_list_mechs ? extlen == 0 && keylen == 0 && bodylen == 0
                                                                    : extlen == 0 && keylen != 0;
  if (keylen > max_key_length || !well_formed) return std::nullopt;
  if (opcode == BinaryCommand::sasl_list_mechs) {
    bin_response(conn, request_, BinaryStatus::success, {}, {}, mechanisms);
    return Action::consumed(binary_header_size);
  }
  const std::size_t header = binary_header_size + keylen;
  const std::size_t data_size = bodylen - keylen;
  if (keylen > sizeof mechanism_) {
    bin_error(conn, request_, BinaryStatus::einval);
    return Action::swallow(binary_header_size, data_size + keylen);
  }
  if (input.size() < header) return Action::need_more();
  if (data_size > max_sasl_data) {
    bin_error(conn, request_, BinaryStatus::enomem);
    return Action::swallow(header, data_size);
  }
  std::copy_n(p + binary_header_size, keylen, mechanism_);
  mechanism_size_ = keylen;
  step_ = opcode == BinaryCommand::sasl_step;
  if (data_size == 0) {
    finish(conn, {}, endpoint);
    return Action::consumed(header);
  }
  reading_ = true;
  return Action::read_body(header, data_size);
}

Action SaslSession::on_body(Connection& conn, std::span<const char> data, const Endpoint& endpoint) {
  reading_ = false;
  finish(conn, {data.data(), data.size()}, endpoint);
  return Action::consumed(0);
}

void SaslSession::reset() noexcept {
  reading_ = false;
  exchange_ = Exchange::none;
}

void SaslSession::finish(Connection& conn, std::string_view data, const Endpoint& endpoint) {
  bool ok = false;
  if (!step_) {
    // SASL_AUTH starts an exchange. PLAIN without its message asks for it (status 0x21,
    // not counted); the credentials then come in a SASL_STEP.
    exchange_ = Exchange::none;
    if (same_mechanism({mechanism_, mechanism_size_}, "PLAIN")) {
      if (data.empty()) {
        exchange_ = Exchange::awaiting_credentials;
        bin_response(conn, request_, auth_continue);
        return;
      }
      ok = verify(data, endpoint);
    }
  } else if (exchange_ == Exchange::awaiting_credentials) {
    ok = verify(data, endpoint);
  }  // else a step with no exchange begun, or after PLAIN's one step: a failure
  exchange_ = ok ? Exchange::done : Exchange::none;
  conn.record_auth(ok);
  if (ok) {
    bin_response(conn, request_, BinaryStatus::success, {}, {}, "Authenticated");
  } else {
    bin_error(conn, request_, BinaryStatus::auth_error);
  }
}

bool SaslSession::verify(std::string_view data, const Endpoint& endpoint) const {
  PlainMessage m;
  if (!parse_plain(data, m) || m.user.empty()) return false;
  // Cyrus SASL's default policy: a user may act only as itself.
  if (!m.authzid.empty() && m.authzid != m.user) return false;
  return check_sasl_pwdb(endpoint.options().sasl_pwdb, m.user, m.password);
}

}  // namespace connkit::cache::detail
