#include "auth_flags.hpp"

namespace connkit::examples {

std::string apply_auth_flags(CacheServerConfig& c, bool protocol_given) {
  using cache::ProtocolChoice;
  ProtocolChoice& protocol = c.endpoint.protocol;
  if (c.endpoint.sasl) {
    if (!protocol_given) {
      protocol = ProtocolChoice::binary;
    } else if (protocol != ProtocolChoice::binary) {
      return "ERROR: You cannot allow the ASCII protocol while using SASL.";
    }
    if (c.udp_port != 0) return "ERROR: Cannot enable UDP while using binary SASL authentication.";
  }
  if (!c.endpoint.auth_file.empty()) {
    if (!protocol_given) {
      protocol = ProtocolChoice::ascii;
    } else if (protocol != ProtocolChoice::ascii) {
      return "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.";
    }
    if (c.udp_port != 0) return "Cannot use UDP with ascii authentication enabled (-U 0 to disable)";
  }
  return {};
}

}  // namespace connkit::examples
