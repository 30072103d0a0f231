#include <connkit/error.hpp>

#include <string>

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
      case errc::write_stall: return "write stalled";
    }
    return "unknown connkit error";
  }
};

}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace connkit
