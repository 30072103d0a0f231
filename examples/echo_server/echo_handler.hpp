#pragma once

#include <connkit/connkit.hpp>

namespace connkit::examples {

/// Sends every byte back unchanged: the smallest useful protocol handler.
class EchoHandler final : public ProtocolHandler {
 public:
  Action on_input(Connection& conn, std::span<const char> input) override {
    conn.reply(std::string_view(input.data(), input.size()));
    return Action::consumed(input.size());
  }
  std::string_view protocol_name() const noexcept override { return "echo"; }
};

}  // namespace connkit::examples
