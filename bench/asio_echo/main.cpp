// asio_echo: the baseline echo server for bench/echo-compare.sh.
//
// Written deliberately in the style of Boost.Asio's own
// example/cpp11/echo/async_tcp_echo_server.cpp (a session per connection kept alive
// by shared_from_this, async_read_some into a fixed buffer, async_write of what was
// read, a server with do_accept), so that it measures "what a plain Asio program gets".
// The only additions are command-line options, signal handling, TCP_NODELAY (as
// memcached-style servers set it) and a 16 KiB buffer instead of 1 KiB.

#include <utility>  // before Boost.Asio: Boost 1.74's headers use std::exchange without it

#include <boost/asio.hpp>

#include <getopt.h>

#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using boost::asio::ip::tcp;

/// One client connection: reads whatever arrives and writes it back.
class Session : public std::enable_shared_from_this<Session> {
 public:
  /// Takes ownership of an accepted socket.
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}

  /// Starts the read/write loop.
  void start() { do_read(); }

 private:
  /// Reads the next chunk of input.
  void do_read() {
    auto self(shared_from_this());
    socket_.async_read_some(boost::asio::buffer(data_, max_length_),
                            [this, self](boost::system::error_code ec, std::size_t length) {
                              if (!ec) do_write(length);
                            });
  }

  /// Echoes `length` bytes of the buffer, then reads again.
  void do_write(std::size_t length) {
    auto self(shared_from_this());
    boost::asio::async_write(socket_, boost::asio::buffer(data_, length),
                             [this, self](boost::system::error_code ec, std::size_t) {
                               if (!ec) do_read();
                             });
  }

  static constexpr std::size_t max_length_ = 16384;
  tcp::socket socket_;
  char data_[max_length_];
};

/// Accepts connections and starts a Session for each.
class Server {
 public:
  /// Opens the listening socket on `endpoint` and starts accepting.
  Server(boost::asio::io_context& io, const tcp::endpoint& endpoint) : acceptor_(io, endpoint) {
    do_accept();
  }

  /// The port actually bound (useful with -p 0).
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  /// Accepts one connection, then the next.
  void do_accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket))->start();
      }
      do_accept();
    });
  }

  tcp::acceptor acceptor_;
};

/// Command-line settings.
struct Options {
  std::string address = "127.0.0.1";  ///< -l: address to listen on
  unsigned short port = 11311;        ///< -p: TCP port (0 picks a free one)
  unsigned threads = 1;               ///< -t: threads running the one io_context
};

/// Prints the usage text to `out`.
void print_usage(std::FILE* out, const char* argv0) {
  std::fprintf(out,
               "usage: %s [-l ADDR] [-p PORT] [-t THREADS]\n"
               "Canonical Boost.Asio echo server (benchmark baseline).\n"
               "  -l ADDR     address to listen on (default 127.0.0.1)\n"
               "  -p PORT     TCP port, 0 for any free port (default 11311)\n"
               "  -t THREADS  threads calling run() on one io_context (default 1)\n"
               "  --help      show this text\n"
               "Stops on SIGINT or SIGTERM.\n",
               argv0);
}

/// Parses a whole decimal string into `value` within [min, max]; false if malformed.
template <class T>
bool parse_number(std::string_view text, T min, T max, T& value) {
  T parsed{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (ec != std::errc() || end != text.data() + text.size() || parsed < min || parsed > max) return false;
  value = parsed;
  return true;
}

/// Fills `options` from argv; returns false (after printing why) on a bad command line.
bool parse_options(int argc, char** argv, Options& options) {
  static const option long_options[] = {{"help", no_argument, nullptr, 'H'}, {nullptr, 0, nullptr, 0}};
  int opt = 0;
  while ((opt = getopt_long(argc, argv, "l:p:t:", long_options, nullptr)) != -1) {
    switch (opt) {
      case 'l':
        options.address = optarg;
        break;
      case 'p':
        if (!parse_number<unsigned short>(optarg, 0, 65535, options.port)) {
          std::fprintf(stderr, "%s: bad port '%s'\n", argv[0], optarg);
          return false;
        }
        break;
      case 't':
        if (!parse_number<unsigned>(optarg, 1, 1024, options.threads)) {
          std::fprintf(stderr, "%s: bad thread count '%s'\n", argv[0], optarg);
          return false;
        }
        break;
      case 'H':
        print_usage(stdout, argv[0]);
        std::exit(EXIT_SUCCESS);
      default:
        print_usage(stderr, argv[0]);
        return false;
    }
  }
  if (optind != argc) {
    std::fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
    print_usage(stderr, argv[0]);
    return false;
  }
  return true;
}

}  // namespace

/// Serves until SIGINT or SIGTERM.
int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) return 2;

  try {
    boost::asio::io_context io(static_cast<int>(options.threads));
    const tcp::endpoint endpoint(boost::asio::ip::make_address(options.address), options.port);
    Server server(io, endpoint);

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](boost::system::error_code, int) { io.stop(); });

    std::printf("asio_echo listening on %s port %u, %u thread(s)\n", options.address.c_str(),
                static_cast<unsigned>(server.port()), options.threads);
    std::fflush(stdout);

    std::vector<std::thread> threads;
    threads.reserve(options.threads - 1);
    for (unsigned i = 1; i < options.threads; ++i) threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& thread : threads) thread.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
