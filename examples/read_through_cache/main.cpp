// read_through_cache: cache_server with a backend behind it. A get, gets, gat, gats or mg
// that misses asks the backend (a memcached text-protocol server) with `get <key>`, once per
// key however many clients ask at the same time, stores the value for -e seconds and answers
// every waiting client.
//   read_through_cache -b 127.0.0.1:11311 [-e 60] [-T 1000] [-l 127.0.0.1] [-p 11211] [-t 4] [-m 64] [-c 1024] [-u user] [-v]

#include <utility>  // before Asio (Boost 1.74)

#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "backend_client.hpp"
#include "cache_main.hpp"
#include "cache_options.hpp"

namespace {

namespace ex = connkit::examples;
using boost::asio::ip::tcp;

constexpr const char* program = "read_through_cache";

std::string usage() {
  const connkit::cache::EndpointOptions endpoint;
  return std::string(program) + " " + endpoint.version + "\n" +
         "-b, --backend=<host:port> the memcached text-protocol server behind the cache (required)\n"
         "-e, --loaded-ttl=<secs>   expiry of items loaded from the backend (default: " +
         std::to_string(endpoint.loaded_ttl.count()) + ")\n" +
         "-T, --backend-timeout=<ms> how long a backend get may take before it counts as a miss (default: 1000)\n"
         "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
         "-l, --listen=<addr>       interface to listen on (default: 127.0.0.1)\n"
         "-t, --threads=<num>       number of threads to use (default: 4)\n"
         "-m, --memory-limit=<num>  item memory in megabytes (default: 64)\n"
         "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
         "-u, --user=<user>         assume identity of <username> (only when run as root)\n"
         "-v, --verbose             verbose (also logs each backend failure)\n"
         "-h, --help                print this help and exit\n"
         "Other cache_server (memcached) options work as there, except -b (the listen backlog)\n"
         "and -e, which this program takes for its own.\n";
}

/// A positive whole number for -e or -T.
std::optional<long> positive(std::string_view text) {
  long n = 0;
  const auto [stop, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || stop != text.data() + text.size() || n <= 0) return std::nullopt;
  return n;
}

/// "host:port" or "[v6]:port", resolved now so a typo fails before anything listens.
std::optional<tcp::endpoint> resolve(std::string_view spec, std::string& error) {
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size()) {
    error = "expected HOST:PORT";
    return std::nullopt;
  }
  std::string_view host = spec.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto results = resolver.resolve(std::string(host), std::string(spec.substr(colon + 1)), ec);
  if (ec || results.empty()) {
    error = ec ? ec.message() : "no address";
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend_spec;
  std::chrono::seconds loaded_ttl = connkit::cache::EndpointOptions{}.loaded_ttl;
  std::chrono::milliseconds timeout{1000};
  const ex::ExtraOption extra[] = {
      {'b', "backend",
       [&](std::string_view v) {
         backend_spec = v;
         return std::string();
       }},
      {'e', "loaded-ttl",
       [&](std::string_view v) {
         const auto n = positive(v);
         if (n) loaded_ttl = std::chrono::seconds(*n);
         return n ? std::string() : "Invalid value for -e: \"" + std::string(v) + "\" (seconds, at least 1)";
       }},
      {'T', "backend-timeout",
       [&](std::string_view v) {
         const auto n = positive(v);
         if (n) timeout = std::chrono::milliseconds(*n);
         return n ? std::string() : "Invalid value for -T: \"" + std::string(v) + "\" (milliseconds, at least 1)";
       }},
  };
  ex::CliResult parsed = ex::parse_cache_server_command_line(argc, argv, extra);
  std::optional<tcp::endpoint> backend;
  if (parsed.action == ex::CliAction::run) {
    std::string error;
    if (backend_spec.empty()) {
      error = "-b HOST:PORT (the backend) is required";
    } else if (backend = resolve(backend_spec, error); !backend) {
      error = "backend " + backend_spec + ": " + error;
    }
    if (!error.empty()) {
      parsed.action = ex::CliAction::fail;
      parsed.exit_status = ex::exit_usage;
      parsed.messages.push_back(std::string(program) + ": " + error);
    }
  }
  // Made here, outside the server, so it outlives every load the endpoint starts.
  const ex::BackendClient client(backend.value_or(tcp::endpoint()), timeout, parsed.config.server.verbosity);
  return ex::run_cache_program(
      {.name = program,
       .usage = usage(),
       .prepare =
           [&](ex::CacheServerConfig& config) {
             config.endpoint.loaded_ttl = loaded_ttl;
             config.endpoint.loader = [&client](std::string_view key, boost::asio::io_context::executor_type executor,
                                                connkit::cache::LoadCompletion done) {
               client.load(key, executor, std::move(done));
             };
           }},
      std::move(parsed));
}
