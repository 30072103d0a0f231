// A memcached text-protocol backend that answers every `get KEY` after a fixed delay, for
// measuring read-through loading and deferred replies (bench/read-through.sh). It is itself
// a connkit server with deferred replies: each get takes a DeferredReply and a timer on the
// connection's executor completes it, so one thread serves any number of slow requests.
//
//   slow_backend -p PORT [-t THREADS] [-D MS] [-V BYTES] [--blocking]
//
// --blocking sleeps in the handler instead (the only option before deferred replies): one
// worker then serves 1000/MS requests a second, however many clients wait.
#include <utility>  // before Asio (Boost 1.74)

#include <chrono>
#include <csignal>
#include <pthread.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <connkit/connkit.hpp>

namespace {

struct Settings {
  std::uint16_t port = 11411;
  unsigned threads = 1;
  std::chrono::milliseconds delay{5};
  std::size_t value_size = 100;
  bool blocking = false;
};

class SlowGetHandler final : public connkit::ProtocolHandler {
 public:
  explicit SlowGetHandler(const Settings& s) : settings_(s), value_(s.value_size, 'v') {}

  connkit::Action on_input(connkit::Connection& conn, std::span<const char> input) override {
    const std::string_view in(input.data(), input.size());
    const std::size_t eol = in.find('\n');
    if (eol == std::string_view::npos) return connkit::Action::need_more();
    std::string_view line = in.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("get ")) {
      conn.reply(line == "version" ? "VERSION slow_backend\r\n" : "ERROR\r\n");
      return connkit::Action::consumed(eol + 1);
    }
    std::string reply = "VALUE " + std::string(line.substr(4)) + " 0 " + std::to_string(value_.size()) + "\r\n";
    reply += value_;
    reply += "\r\nEND\r\n";
    if (settings_.blocking) {
      std::this_thread::sleep_for(settings_.delay);
      conn.reply(reply);
      return connkit::Action::consumed(eol + 1);
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(conn.executor(), settings_.delay);
    timer->async_wait([timer, later = conn.defer(), reply = std::move(reply)](const boost::system::error_code&) mutable {
      later.complete(reply);
    });
    return connkit::Action::defer(eol + 1);
  }

 private:
  const Settings& settings_;
  std::string value_;
};

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--blocking") {
      s.blocking = true;
    } else if (next != nullptr && arg == "-p") {
      s.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    } else if (next != nullptr && arg == "-t") {
      s.threads = static_cast<unsigned>(std::atoi(argv[++i]));
    } else if (next != nullptr && arg == "-D") {
      s.delay = std::chrono::milliseconds(std::atoi(argv[++i]));
    } else if (next != nullptr && arg == "-V") {
      s.value_size = static_cast<std::size_t>(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s -p PORT [-t THREADS] [-D MS] [-V BYTES] [--blocking]\n", argv[0]);
      return 2;
    }
  }
  sigset_t signals;  // blocked before the workers start, so they inherit the mask
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  connkit::ServerOptions options;
  options.threads = s.threads;
  options.max_connections = 4096;
  connkit::ListenerOptions listener;
  listener.port = s.port;
  listener.max_deferred = 1024;
  listener.handler = [&s] { return std::make_unique<SlowGetHandler>(s); };
  options.listeners.push_back(std::move(listener));
  connkit::Server server(std::move(options));
  server.start();
  int caught = 0;
  sigwait(&signals, &caught);
  server.stop();
  server.join();
  return 0;
}
