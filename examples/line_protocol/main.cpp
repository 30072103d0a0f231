// line_protocol: a custom request/response protocol built on connkit (see line_handler.hpp).
//   line_protocol [-l 127.0.0.1] [-p 11211] [-t 4] [-c 1024] [-v|-vv]

#include <memory>

#include "example_cli.hpp"
#include "line_handler.hpp"

int main(int argc, char** argv) {
  auto options = connkit::examples::parse_command_line(
      argc, argv, 11211, [] { return std::make_unique<connkit::examples::LineHandler>(); });
  return connkit::examples::run_server("line_protocol", std::move(options));
}
