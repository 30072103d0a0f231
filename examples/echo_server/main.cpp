// echo_server: every byte a client sends comes back unchanged.
//   echo_server [-l 127.0.0.1] [-p 11311] [-t 4] [-c 1024] [-v|-vv]

#include <memory>

#include "echo_handler.hpp"
#include "example_cli.hpp"

int main(int argc, char** argv) {
  auto options = connkit::examples::parse_command_line(
      argc, argv, 11311, [] { return std::make_unique<connkit::examples::EchoHandler>(); });
  return connkit::examples::run_server("echo_server", std::move(options));
}
