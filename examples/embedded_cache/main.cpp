// embedded_cache: an application with logic of its own that shares its cache with memcached
// clients. Every second it writes app:clock (the time) and increments app:ticks in the Store
// that clients reach through the memcached protocol; a message a client sets in app:inbox is
// taken and printed by the application. Everything runs on the application's io_context.
//   embedded_cache [-l 127.0.0.1] [-p 11212] [-v|-vv]

#include <utility>  // before Asio (Boost 1.74)

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/connkit.hpp>

namespace {

namespace cache = connkit::cache;

/// The application's own work: a once-a-second tick that writes into the shared store.
class ClockApp {
 public:
  /// Ticks on `io`, writing into `store`; call start() to begin.
  ClockApp(boost::asio::io_context& io, cache::Store& store) : timer_(io), store_(store) {}

  /// Ticks now, then every second until stop().
  void start() {
    tick();
    do_wait();
  }

  /// Cancels the next tick, so the io_context runs out of work once the server has stopped.
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void do_wait() {
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      tick();
      do_wait();
    });
  }

  void tick() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char clock[32];
    const std::size_t n = std::strftime(clock, sizeof clock, "%Y-%m-%dT%H:%M:%SZ", &utc);
    put("app:clock", std::string_view(clock, n), cache::StoreMode::set);
    count_tick();
    take_inbox();
  }

  // incr on the shared counter: the same operation a client's "incr app:ticks 1" performs.
  void count_tick() {
    const cache::ArithResult result = store_.arithmetic("app:ticks", cache::ArithRequest{}).result;  // incr by 1
    if (result == cache::ArithResult::not_found) {
      // "add" loses to a client that created the key first; then the next tick counts.
      put("app:ticks", "1", cache::StoreMode::add);
    } else if (result == cache::ArithResult::non_numeric) {
      std::fprintf(stderr, "embedded_cache: a client stored a non-number in app:ticks; restarting at 1\n");
      put("app:ticks", "1", cache::StoreMode::set);
    }
  }

  // A client's "set app:inbox 0 0 5\r\nhello\r\n" reaches the application here.
  void take_inbox() {
    const cache::ItemRef item = store_.get("app:inbox");
    if (!item) return;
    const std::span<const char> value = std::as_const(*item).value();
    std::fprintf(stderr, "embedded_cache: app:inbox says \"%.*s\"\n", static_cast<int>(value.size()), value.data());
    store_.remove("app:inbox");
  }

  // The store copies the value and adds the "\r\n" clients' replies need.
  bool put(std::string_view key, std::string_view value, cache::StoreMode mode) {
    return store_.store(key, value, mode) == cache::StoreResult::stored;
  }

  boost::asio::steady_timer timer_;
  cache::Store& store_;
  bool stopped_ = false;
};

/// Command-line settings.
struct Flags {
  std::string host = "127.0.0.1";  ///< -l
  std::uint16_t port = 11212;      ///< -p
  int verbosity = 0;               ///< -v, -vv
};

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: embedded_cache [options]\n"
               "-p <num>      TCP port for memcached clients (default: 11212)\n"
               "-l <addr>     interface to listen on (default: 127.0.0.1)\n"
               "-v, -vv       verbose (connection and protocol log lines)\n"
               "-h            print this help and exit\n");
}

/// Parses the flags; false (after printing why) on bad input.
bool parse(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if ((a == "-p" || a == "-l") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (a == "-l") {
        flags.host = value;
        continue;
      }
      char* end = nullptr;
      const unsigned long port = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || port > 65535) {
        std::fprintf(stderr, "embedded_cache: bad port '%s'\n", value.c_str());
        return false;
      }
      flags.port = static_cast<std::uint16_t>(port);
    } else if (a.size() >= 2 && a[0] == '-' && a.find_first_not_of('v', 1) == std::string_view::npos) {
      flags.verbosity += static_cast<int>(a.size() - 1);
    } else if (a == "-h") {
      usage(stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "embedded_cache: unknown or incomplete option '%s'\n", argv[i]);
      usage(stderr);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!parse(argc, argv, flags)) return 64;
  try {
    // Declared first, destroyed last: the server and the timer go before their io_context.
    boost::asio::io_context io(1);
    cache::Store store;
    cache::Endpoint endpoint(store);

    connkit::ServerOptions options;
    connkit::ListenerOptions listener;
    listener.host = flags.host;
    listener.port = flags.port;
    listener.handler = endpoint.handler_factory();
    options.listeners.push_back(std::move(listener));
    options.verbosity = flags.verbosity;
    options.log = connkit::stderr_log_sink();
    connkit::Server server(io, std::move(options));  // host mode: no threads of its own
    endpoint.attach(server);
    ClockApp app(io, store);

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      app.stop();
      server.stop();  // run() returns once the clients are drained and the timer is gone
    });
    server.start();
    std::fprintf(stderr, "embedded_cache: cache on %s:%u; try: printf 'get app:clock app:ticks\\r\\n' | nc %s %u\n",
                 flags.host.c_str(), static_cast<unsigned>(server.port()), flags.host.c_str(),
                 static_cast<unsigned>(server.port()));
    app.start();
    io.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embedded_cache: %s\n", e.what());
    return 1;
  }
}
