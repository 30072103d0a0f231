#include "cache_options.hpp"

#include "auth_flags.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include "memcached_flags.hpp"

namespace connkit::examples {
namespace {

using detail::Arg;
using detail::OptionSpec;
using detail::Suboption;
using detail::ignored_suboptions;
using detail::option_table;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * 1024;

template <class T>
bool parse_integer(std::string_view text, T& out, int base = 10) {
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, out, base);
  return !text.empty() && ec == std::errc() && stop == end;
}

// Joins without `"literal" + std::string`, which g++ 12 -O3 flags with a false -Wrestrict.
std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const std::string_view part : parts) out += part;
  return out;
}

std::string quoted(std::string_view prefix, std::string_view text) { return concat({prefix, "\"", text, "\""}); }

class Parser {
 public:
  Parser(int argc, const char* const* argv, std::span<const ExtraOption> extra)
      : argc_(argc), argv_(argv), extra_(extra) {}

  CliResult run() {
    const std::string_view program = argc_ > 0 && argv_[0] != nullptr ? argv_[0] : "cache_server";
    for (int i = 1; i < argc_ && !stopped(); ++i) {
      const std::string_view arg = argv_[i];
      if (arg == "--") break;
      if (arg.size() > 2 && arg.substr(0, 2) == "--") {
        long_option(program, arg.substr(2), i);
      } else if (arg.size() > 1 && arg[0] == '-') {
        short_options(program, arg, i);
      }
      // Anything else is an operand; memcached's getopt_long permutes operands away and never reads them.
    }
    if (!stopped()) finish();
    return std::move(result_);
  }

 private:
  bool stopped() const noexcept { return result_.action != CliAction::run; }

  void fail(int status, std::string message) {
    result_.action = CliAction::fail;
    result_.exit_status = status;
    result_.messages.push_back(std::move(message));
  }

  // glibc getopt's complaint, then the line memcached's `default:` case prints.
  void getopt_error(std::string message) {
    fail(exit_bad_option, std::move(message));
    result_.messages.emplace_back("Illegal argument \"?\"");
  }

  void long_option(std::string_view program, std::string_view text, int& i) {
    const std::size_t eq = text.find('=');
    const std::string_view name = text.substr(0, eq);
    for (const ExtraOption& x : extra_) {
      if (x.long_name.empty() || x.long_name != name) continue;
      if (eq != std::string_view::npos) return apply_extra(x, text.substr(eq + 1));
      if (i + 1 >= argc_) {
        return getopt_error(concat({program, ": option '--", x.long_name, "' requires an argument"}));
      }
      return apply_extra(x, argv_[++i]);
    }
    const OptionSpec* match = nullptr;
    int prefix_matches = 0;
    for (const OptionSpec& spec : option_table) {
      if (spec.long_name.empty() || spec.long_name.substr(0, name.size()) != name) continue;
      if (spec.long_name.size() == name.size()) {
        match = &spec;
        prefix_matches = 1;
        break;
      }
      match = &spec;
      ++prefix_matches;
    }
    const std::string shown = std::string(program) + ": option '--" + std::string(name) + "'";
    if (prefix_matches == 0) {
      return getopt_error(std::string(program) + ": unrecognized option '--" + std::string(text) + "'");
    }
    if (prefix_matches > 1) return getopt_error(shown + " is ambiguous");
    const std::string full = std::string(program) + ": option '--" + std::string(match->long_name) + "'";
    if (match->arg == Arg::none && eq != std::string_view::npos) {
      return getopt_error(full + " doesn't allow an argument");
    }
    if (match->arg == Arg::required && eq == std::string_view::npos) {
      if (i + 1 >= argc_) return getopt_error(full + " requires an argument");
      return apply(match->name, argv_[++i]);
    }
    apply(match->name, eq == std::string_view::npos ? std::string_view() : text.substr(eq + 1));
  }

  void short_options(std::string_view program, std::string_view arg, int& i) {
    for (std::size_t j = 1; j < arg.size() && !stopped(); ++j) {
      const char c = arg[j];
      if (const ExtraOption* x = extra(c)) {
        if (j + 1 < arg.size()) return apply_extra(*x, arg.substr(j + 1));
        if (i + 1 >= argc_) return getopt_error(std::string(program) + ": option requires an argument -- '" + c + "'");
        return apply_extra(*x, argv_[++i]);
      }
      const OptionSpec* spec = nullptr;
      for (const OptionSpec& s : option_table) {
        if (s.name == c) spec = &s;
      }
      if (spec == nullptr) return getopt_error(std::string(program) + ": invalid option -- '" + c + "'");
      if (spec->arg != Arg::required) {
        apply(c, {});
        continue;
      }
      if (j + 1 < arg.size()) return apply(c, arg.substr(j + 1));
      if (i + 1 >= argc_) return getopt_error(std::string(program) + ": option requires an argument -- '" + c + "'");
      return apply(c, argv_[++i]);
    }
  }

  const ExtraOption* extra(char name) const noexcept {
    for (const ExtraOption& x : extra_) {
      if (x.name == name) return &x;
    }
    return nullptr;
  }

  void apply_extra(const ExtraOption& option, std::string_view value) {
    if (std::string error = option.apply(value); !error.empty()) fail(exit_bad_option, std::move(error));
  }

  bool port_value(std::string_view text, int& port) {
    if (!parse_integer(text, port)) {
      fail(exit_bad_option, quoted("Invalid port number: ", text));
      return false;
    }
    return true;
  }

  // A positive count with memcached's message for zero or less.
  bool count_value(char option, std::string_view text, long long& out, const char* too_small) {
    if (!parse_integer(text, out)) {
      invalid(option, text);
      return false;
    }
    if (out <= 0) {
      fail(exit_bad_option, too_small);
      return false;
    }
    return true;
  }

  void invalid(char option, std::string_view text) {
    fail(exit_bad_option, std::string("Invalid value for -") + option + quoted(": ", text));
  }

  void apply(char option, std::string_view value) {
    CacheServerConfig& c = result_.config;
    long long n = 0;
    switch (option) {
      case 'p':
        if (port_value(value, tcp_port_)) tcp_given_ = true;
        break;
      case 'U':
        if (port_value(value, c.udp_port)) udp_given_ = true;
        break;
      case 's':
        unix_path_ = std::string(value);
        break;
      case 'a':
        if (!parse_integer(value, unix_mask_, 8) || unix_mask_ > 0777) invalid(option, value);
        break;
      case 'l':
        c.listen_given = true;
        listen_specs_.emplace_back(value);
        if (c.interfaces.find(value) == std::string::npos) {  // memcached's settings.inter
          c.interfaces += (c.interfaces.empty() ? "" : ",") + std::string(value);
        }
        break;
      case 'u':
        c.user = std::string(value);
        break;
      case 'm': {
        // atoi() in memcached: "-m 64m" means 64 megabytes there, so a trailing m is allowed.
        std::string_view digits = value;
        if (!digits.empty() && (digits.back() == 'm' || digits.back() == 'M')) digits.remove_suffix(1);
        std::uint64_t megabytes = 0;
        if (!parse_integer(digits, megabytes) || megabytes > std::numeric_limits<std::size_t>::max() / mib) {
          return invalid(option, value);
        }
        memory_limit_ = megabytes * mib;
        break;
      }
      case 'c':
        if (count_value(option, value, n, "Maximum connections must be greater than 0")) {
          c.server.max_connections = static_cast<std::size_t>(n);
        }
        break;
      case 't':
        if (!count_value(option, value, n, "Number of threads must be greater than 0")) break;
        if (n > max_threads) {
          return fail(exit_bad_option, concat({"Number of threads must not exceed ", std::to_string(max_threads)}));
        }
        if (n > 64) {
          // memcached's wording, its missing space included.
          result_.messages.emplace_back("WARNING: Setting a high number of workerthreads is not recommended.");
          result_.messages.emplace_back(" Set this value to the number of cores in your machine or less.");
        }
        c.server.threads = static_cast<unsigned>(n);
        break;
      case 'R':
        if (count_value(option, value, n, "Number of requests per event must be greater than 0")) {
          c.server.reqs_per_event = static_cast<unsigned>(std::min<long long>(n, std::numeric_limits<unsigned>::max()));
        }
        break;
      case 'b':
        if (!parse_integer(value, backlog_) || backlog_ < 0) invalid(option, value);
        break;
      case 'B':
        protocol_given_ = true;
        if (value == "auto") {
          c.endpoint.protocol = cache::ProtocolChoice::negotiate;
        } else if (value == "binary") {
          c.endpoint.protocol = cache::ProtocolChoice::binary;
        } else if (value == "ascii") {
          c.endpoint.protocol = cache::ProtocolChoice::ascii;
        } else {
          fail(exit_usage, concat({"Invalid value for binding protocol: ", value}));
          result_.messages.emplace_back(" -- should be one of auto, binary, or ascii");
        }
        break;
      case 'I': {
        std::string_view digits = value;
        std::uint64_t unit = 1;
        if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'K')) unit = kib;
        if (!digits.empty() && (digits.back() == 'm' || digits.back() == 'M')) unit = mib;
        if (unit != 1) digits.remove_suffix(1);
        std::uint64_t size = 0;
        if (!parse_integer(digits, size) || size > (std::uint64_t{1} << 40)) return invalid(option, value);
        item_size_ = size * unit;
        break;
      }
      case 'D':  // the stats detail delimiter; it turns detail on, as memcached's -D
        if (value.empty()) return fail(1, "No delimiter specified");
        c.endpoint.prefix_delimiter = value[0];
        c.endpoint.detail_enabled = true;
        break;
      case 'C':
        c.endpoint.cas_enabled = false;
        break;
      case 'F':
        c.endpoint.flush_enabled = false;
        break;
      case 'v':
        ++c.server.verbosity;
        break;
      case 'h':
        result_.action = CliAction::help;
        break;
      case 'V':
        result_.action = CliAction::version;
        break;
      case 'o':
        extended(value);
        break;
      case 'f': {
        double factor = 0;
        const auto [stop, ec] = std::from_chars(value.data(), value.data() + value.size(), factor);
        if (value.empty() || ec != std::errc() || stop != value.data() + value.size()) return invalid(option, value);
        if (factor <= 1.0) return fail(exit_bad_option, "Factor must be greater than 1");
        c.store.growth_factor = factor;
        break;
      }
      case 'n':
        if (count_value(option, value, n, "Chunk size must be greater than 0")) {
          c.store.slab_chunk_min = static_cast<std::size_t>(n);
        }
        break;
      case 'X':
        c.endpoint.dump_enabled = false;
        break;
      case 'W':  // watch does not exist here: already disabled
      case 'L':  // large pages: item memory comes from the heap in chunks, not from preallocated slabs
      case 'e':  // a restartable cache in a memory file: items live in the heap and go with the process
      case 'N':  // NAPI ids: connections are not assigned to workers by receive queue
        c.ignored_options.emplace_back(std::string("-") + option);
        break;
      case 'A':
        c.enable_shutdown = true;
        break;
      case 'd':
        c.daemonize = true;
        break;
      case 'P':
        c.pid_file = std::string(value);
        break;
      case 'M':
        c.store.evictions = false;
        break;
      case 'r':
        c.raise_core_limit = true;
        break;
      case 'k':
        c.lock_memory = true;
        break;
      case 'i':
        result_.action = CliAction::license;
        break;
      case 'S':
        c.endpoint.sasl = true;
        break;
      case 'Y':
        c.endpoint.auth_file = std::string(value);
        break;
      case 'Z':
        fail(exit_usage, "This server is not built with TLS support.");
        break;
      default:
        unsupported(option);
        break;
    }
  }

  void unsupported(char option) {
    std::string message = std::string("cache_server does not support -") + option;
    for (const OptionSpec& spec : option_table) {
      if (spec.name == option && !spec.long_name.empty()) message += " (--" + std::string(spec.long_name) + ")";
    }
    fail(exit_usage, std::move(message));
  }

  // getsubopt() semantics: tokens split at ',', a value after the first '=', names exact.
  void extended(std::string_view list) {
    while (!list.empty() && !stopped()) {
      const std::size_t comma = list.find(',');
      const std::string_view token = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      const std::size_t eq = token.find('=');
      const std::string_view name = token.substr(0, eq);
      const bool has_value = eq != std::string_view::npos;  // "name=" has an empty value, "name" none
      const std::string_view value = has_value ? token.substr(eq + 1) : std::string_view();
      if (name == "idle_timeout") {
        std::uint32_t seconds = 0;
        if (!has_value) return fail(exit_bad_option, "Missing numeric argument for idle_timeout");
        if (!parse_integer(value, seconds)) return fail(exit_bad_option, "could not parse argument to idle_timeout");
        result_.config.server.idle_timeout = std::chrono::seconds(seconds);
        continue;
      }
      if (name == "no_io_uring" && !has_value) {  // cache_server's own: replies with send() only
        result_.config.server.io_uring = false;
        continue;
      }
      if (name == "no_own_loop" && !has_value) {  // cache_server's own: Asio's run() drives the workers
        result_.config.server.own_loop = false;
        continue;
      }
      const Suboption* known = nullptr;
      for (const Suboption& s : ignored_suboptions) {
        if (s.name == name) known = &s;
      }
      if (known == nullptr) return fail(exit_bad_option, quoted("Illegal suboption ", token));
      if (!known->missing.empty() && !has_value) return fail(exit_bad_option, std::string(known->missing));
      result_.config.ignored_options.emplace_back(name);
    }
  }

  // memcached 1.6.17+'s "proto[name]:" prefix of one -l entry: `rest` is the entry, moved
  // past the prefix. As memcached, "proto" alone is skipped without a bracket, a name is
  // compared as strncmp(name, "ascii", length) does (a prefix such as "bin" matches, an
  // empty name is ascii), an unknown name leaves -B's protocol, and the one character after
  // ']' is skipped as the ':'. False after failing (no ']'; proxy, which is not built in).
  bool listen_protocol(std::string_view& rest, cache::ProtocolChoice& protocol) {
    if (rest.substr(0, 5) != "proto") return true;
    rest.remove_prefix(5);
    if (rest.empty() || rest.front() != '[') return true;
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      fail(exit_os_error, quoted("Invalid protocol spec: ", rest));
      return false;
    }
    const std::string_view name = rest.substr(1, close - 1);
    const auto is = [name](std::string_view word) { return word.substr(0, name.size()) == name; };
    if (is("ascii")) {
      protocol = cache::ProtocolChoice::ascii;
    } else if (is("binary")) {
      protocol = cache::ProtocolChoice::binary;
    } else if (is("negotiating")) {
      protocol = cache::ProtocolChoice::negotiate;
    } else if (is("proxy")) {
      fail(exit_os_error, quoted("Server not built with proxy: ", concat({"proto[", name})));
      return false;
    }
    rest.remove_prefix(std::min(close + 2, rest.size()));
    return true;
  }

  // One -l entry, parsed as memcached's server_sockets() does: an optional "proto[name]:"
  // prefix, then "host", "host:port", "[v6]", "[v6]:port", a bare IPv6 address (two or more
  // colons, no port) or "*" (every interface).
  // UDP (-U) opens a socket on each entry too, at the entry's port if it names one (as
  // memcached's server_sockets(), called once per transport), else at -U's.
  void add_listen_entry(std::string_view entry, const ListenerOptions& prototype) {
    if (entry.substr(0, 4) == "tag[") {  // a later memcached's listener tags
      return fail(exit_os_error, quoted("Listener prefix tag[...] is not supported: ", entry));
    }
    std::string_view rest = entry;
    cache::ProtocolChoice protocol = result_.config.endpoint.protocol;
    if (!listen_protocol(rest, protocol)) return;
    std::string_view host;
    bool bracketed = false;
    if (!rest.empty() && rest.front() == '[') {
      const std::size_t close = rest.find(']');
      if (close == std::string_view::npos || (close + 1 < rest.size() && rest[close + 1] != ':')) {
        return fail(exit_os_error, quoted("Invalid IPV6 address: ", entry));
      }
      host = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
      bracketed = true;
    }
    const bool udp = prototype.transport == Transport::udp;
    int port = udp ? result_.config.udp_port : tcp_port_;
    const std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos && (bracketed || rest.find(':', colon + 1) == std::string_view::npos)) {
      const std::string_view port_text = rest.substr(colon + 1);
      if (!parse_integer(port_text, port) || port < -1 || port > 65535) {
        return fail(exit_os_error, quoted("Invalid port number: ", port_text));
      }
      rest = rest.substr(0, colon);
    }
    if (!bracketed) host = rest;
    if (host.empty()) return fail(exit_os_error, quoted("Invalid listen address: ", entry));
    for (std::string_view h : host == "*" ? std::vector<std::string_view>{"0.0.0.0", "::"} : std::vector{host}) {
      ListenerOptions l = prototype;
      l.host = std::string(h);
      l.port = static_cast<std::uint16_t>(port == -1 ? 0 : port);  // memcached: -1 asks for any free port
      l.name = std::string(cache::protocol_text(protocol));
      bool duplicate = false;
      for (const ListenerOptions& other : result_.config.server.listeners) {
        duplicate = duplicate || (other.transport == l.transport && other.host == l.host && other.port == l.port);
      }
      if (!duplicate) add_listener(std::move(l), protocol);
    }
  }

  void add_listener(ListenerOptions listener, cache::ProtocolChoice protocol) {
    result_.config.server.listeners.push_back(std::move(listener));
    result_.config.protocols.push_back(protocol);
  }

  // The checks memcached makes after its option loop, then the listeners.
  void finish() {
    CacheServerConfig& c = result_.config;
    if (item_size_ < item_size_lower_limit) return fail(exit_usage, "Item max size cannot be less than 1024 bytes.");
    if (item_size_ > memory_limit_ / 2) {
      return fail(exit_usage, "Cannot set item size limit higher than 1/2 of memory max.");
    }
    if (item_size_ > item_size_upper_limit) {
      return fail(exit_usage, "Cannot set item size limit higher than a gigabyte.");
    }
    c.store.memory_limit = memory_limit_;
    c.store.item_size_max = static_cast<std::size_t>(item_size_);
    if (std::string error = apply_auth_flags(c, protocol_given_); !error.empty()) return fail(exit_usage, error);

    if (udp_given_ && c.udp_port != 0 && !tcp_given_) tcp_port_ = c.udp_port;  // memcached: -U alone moves TCP too
    for (const int port : {tcp_port_, c.udp_port}) {
      if (port < -1 || port > 65535) {
        return fail(exit_usage, concat({"ERROR: Invalid port number ", std::to_string(port), "."}));
      }
    }

    ListenerOptions prototype;
    prototype.backlog = backlog_;
    if (!unix_path_.empty()) {
      // memcached: a UNIX socket replaces every network listener, TCP and UDP alike; -B
      // chooses its protocol.
      prototype.transport = Transport::unix_stream;
      prototype.path = unix_path_;
      prototype.unix_mode = unix_mask_;
      prototype.name = std::string(cache::protocol_text(c.endpoint.protocol));
      add_listener(std::move(prototype), c.endpoint.protocol);
      return;
    }
    if (listen_specs_.empty()) listen_specs_.emplace_back(prototype.host);
    // memcached binds every TCP socket, then every UDP one.
    for (const Transport transport : {Transport::tcp, Transport::udp}) {
      if ((transport == Transport::tcp ? tcp_port_ : c.udp_port) == 0) continue;
      prototype.transport = transport;
      for (const std::string& spec : listen_specs_) {
        std::string_view list = spec;
        while (!list.empty() && !stopped()) {  // strtok(";,"): empty entries are skipped
          const std::size_t cut = list.find_first_of(";,");
          const std::string_view entry = list.substr(0, cut);
          list = cut == std::string_view::npos ? std::string_view() : list.substr(cut + 1);
          if (!entry.empty()) add_listen_entry(entry, prototype);
        }
      }
    }
    if (!stopped() && c.server.listeners.empty()) fail(exit_usage, "Nothing to listen on: -p 0 turns TCP off and UDP is off (-U 0)");
  }

  int argc_;
  const char* const* argv_;
  std::span<const ExtraOption> extra_;
  CliResult result_;
  int tcp_port_ = 11211;
  bool tcp_given_ = false;
  bool udp_given_ = false;
  bool protocol_given_ = false;  // -B was given
  std::string unix_path_;
  unsigned unix_mask_ = ListenerOptions{}.unix_mode;
  int backlog_ = ListenerOptions{}.backlog;
  std::vector<std::string> listen_specs_;
  std::uint64_t memory_limit_ = cache::StoreOptions{}.memory_limit;
  std::uint64_t item_size_ = cache::StoreOptions{}.item_size_max;
};

}  // namespace

CliResult parse_cache_server_command_line(int argc, const char* const* argv, std::span<const ExtraOption> extra) {
  return Parser(argc, argv, extra).run();
}

}  // namespace connkit::examples
