#include <connkit/connkit.hpp>

#include <cstdio>

namespace {
class Ping final : public connkit::ProtocolHandler {
 public:
  connkit::Action on_input(connkit::Connection& conn, std::span<const char> input) override {
    conn.reply(std::string_view(input.data(), input.size()));
    return connkit::Action::consumed(input.size());
  }
};
}  // namespace

int main() {
  connkit::ServerOptions options;
  options.threads = 1;
  connkit::ListenerOptions listener;
  listener.handler = [] { return std::make_unique<Ping>(); };
  options.listeners.push_back(listener);
  connkit::Server server(std::move(options));
  server.start();
  std::printf("consumer bound port %u with connkit %s\n", server.port(), connkit::version_string);
  server.stop();
  server.join();
  return server.stopped() ? 0 : 1;
}
