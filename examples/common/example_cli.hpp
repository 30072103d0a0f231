#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <csignal>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <connkit/connkit.hpp>

namespace connkit::examples {

/// Prints memcached-style usage for the flags every example takes.
inline void print_usage(const char* program, std::uint16_t default_port) {
  std::printf(
      "usage: %s [options]\n"
      "-p, --port=<num>          TCP port to listen on (default: %u)\n"
      "-l, --listen=<addr>       interface to listen on (default: 127.0.0.1)\n"
      "-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
      "-t, --threads=<num>       number of worker threads to use (default: 4)\n"
      "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
      "-R, --max-reqs-per-event  maximum number of requests per event (default: 20)\n"
      "-v, --verbose             verbose (print errors/warnings while in event loop)\n"
      "-vv                       very verbose (also print client commands/responses)\n"
      "-h, --help                print this help and exit\n",
      program, static_cast<unsigned>(default_port));
}

/// Parses the flags into `options` (one listener made by `factory`). Exits on -h or bad input.
inline ServerOptions parse_command_line(int argc, char** argv, std::uint16_t default_port, HandlerFactory factory) {
  ServerOptions options;
  ListenerOptions listener;
  listener.port = default_port;
  listener.handler = std::move(factory);
  auto need_value = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: option %s needs a value\n", argv[0], argv[i]);
      std::exit(64);
    }
    return argv[++i];
  };
  auto number = [&](const std::string& text, unsigned long max) -> unsigned long {
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || v > max) {
      std::fprintf(stderr, "%s: bad number '%s'\n", argv[0], text.c_str());
      std::exit(64);
    }
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-p" || a == "--port") {
      listener.port = static_cast<std::uint16_t>(number(need_value(i), 65535));
    } else if (a == "-l" || a == "--listen") {
      listener.host = need_value(i);
    } else if (a == "-s" || a == "--unix-socket") {
      listener.transport = Transport::unix_stream;
      listener.path = need_value(i);
    } else if (a == "-t" || a == "--threads") {
      options.threads = static_cast<unsigned>(number(need_value(i), 1024));
    } else if (a == "-c" || a == "--conn-limit") {
      options.max_connections = number(need_value(i), 1u << 24);
    } else if (a == "-R" || a == "--max-reqs-per-event") {
      options.reqs_per_event = static_cast<unsigned>(number(need_value(i), 1u << 20));
    } else if (a.size() >= 2 && a[0] == '-' && a.find_first_not_of('v', 1) == std::string_view::npos) {
      options.verbosity += static_cast<int>(a.size() - 1);
    } else if (a == "-h" || a == "--help") {
      print_usage(argv[0], default_port);
      std::exit(0);
    } else {
      std::fprintf(stderr, "%s: unknown option '%s'\n", argv[0], argv[i]);
      print_usage(argv[0], default_port);
      std::exit(64);
    }
  }
  if (options.threads == 0 || options.max_connections == 0 || options.reqs_per_event == 0) {
    std::fprintf(stderr, "%s: -t, -c and -R must be at least 1\n", argv[0]);
    std::exit(64);
  }
  options.listeners.push_back(std::move(listener));
  options.log = stderr_log_sink();
  return options;
}

/// Starts the server, stops it gracefully on SIGINT/SIGTERM, and returns the exit status.
inline int run_server(const char* program, ServerOptions options) {
  try {
    boost::asio::io_context signals_io(1);
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
    Server server(std::move(options));
    server.start();
    const ListenerOptions& l = server.options().listeners.front();
    if (l.transport == Transport::unix_stream) {
      std::printf("%s: listening on unix:%s, %u threads\n", program, l.path.c_str(), server.options().threads);
    } else {
      std::printf("%s: listening on %s:%u, %u threads\n", program, l.host.c_str(), server.port(), server.options().threads);
    }
    std::fflush(stdout);
    // stop() runs as an ordinary completion, not inside a signal handler.
    signals.async_wait([&server](const boost::system::error_code&, int) { server.stop(); });
    signals_io.run();
    server.join();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace connkit::examples
