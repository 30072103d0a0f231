#include <connkit/error.hpp>

#include <string>

#include "counters.hpp"

namespace connkit {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "connkit"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::input_too_large: return "request larger than the read buffer limit";
      case errc::idle_timeout: return "idle timeout";
      case errc::server_stopping: return "server stopping";
      case errc::stop_deadline: return "stop deadline passed";
      case errc::protocol_close: return "closed by the protocol handler";
      case errc::peer_closed: return "peer closed the connection";
      case errc::bad_action: return "protocol handler returned an action that cannot apply";
      case errc::invalid_option: return "invalid server option";
      case errc::refused: return "refused by the protocol handler";
      case errc::closed_by_server: return "closed by the server";
      case errc::write_stall: return "write stall timeout";
      case errc::datagram_truncated: return "request body not in its datagram";
    }
    return "unknown connkit error";
  }
};

}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

namespace detail {

Counters::Field close_counter(const boost::system::error_code& reason) noexcept {
  if (reason.category() != error_category()) return &ConnectionStats::closed_error;  // socket errors, no memory
  switch (static_cast<errc>(reason.value())) {
    case errc::peer_closed: return &ConnectionStats::closed_peer;
    case errc::protocol_close:
    case errc::input_too_large:
    case errc::bad_action: return &ConnectionStats::closed_protocol;
    case errc::idle_timeout: return &ConnectionStats::closed_idle;  // the linger timeout too
    case errc::server_stopping:
    case errc::stop_deadline: return &ConnectionStats::closed_stopping;
    case errc::refused:
    case errc::closed_by_server: return &ConnectionStats::closed_by_server;
    case errc::write_stall: return &ConnectionStats::closed_write_stall;
    case errc::invalid_option:
    case errc::datagram_truncated: break;  // never a close reason
  }
  return &ConnectionStats::closed_error;
}

}  // namespace detail

}  // namespace connkit
