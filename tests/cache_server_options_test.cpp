// Test that header file is self-contained.
#include "cache_options.hpp"

#include <chrono>
#include <initializer_list>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using connkit::examples::CliAction;
using connkit::examples::CliResult;
using connkit::examples::PrivilegeAction;

CliResult parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"cache_server"};
  argv.insert(argv.end(), args);
  return connkit::examples::parse_cache_server_command_line(static_cast<int>(argv.size()), argv.data());
}

std::string first_message(const CliResult& r) { return r.messages.empty() ? std::string() : r.messages.front(); }

}  // namespace

TEST_CASE("no arguments give memcached's defaults on localhost", "[cache_server]") {
  const CliResult r = parse({});
  REQUIRE(r.action == CliAction::run);
  CHECK(r.messages.empty());
  const auto& c = r.config;
  REQUIRE(c.server.listeners.size() == 1);
  CHECK(c.server.listeners[0].transport == connkit::Transport::tcp);
  CHECK(c.server.listeners[0].host == "127.0.0.1");
  CHECK(c.server.listeners[0].port == 11211);
  CHECK(c.server.listeners[0].backlog == 1024);
  CHECK(c.server.listeners[0].name == "auto-negotiate");
  CHECK(c.udp_port == 0);  // no UDP socket unless -U asks
  CHECK(c.server.threads == 4);
  CHECK(c.server.max_connections == 1024);
  CHECK(c.server.reqs_per_event == 20);
  CHECK(c.server.idle_timeout == std::chrono::milliseconds(0));
  CHECK(c.server.verbosity == 0);
  CHECK(c.store.memory_limit == 64u << 20);
  CHECK(c.store.item_size_max == 1u << 20);
  CHECK(c.endpoint.protocol == connkit::cache::ProtocolChoice::negotiate);
  CHECK(c.endpoint.cas_enabled);
  CHECK(c.endpoint.flush_enabled);
  CHECK(c.user.empty());
  CHECK(c.ignored_options.empty());
}

TEST_CASE("values are read in every getopt_long spelling", "[cache_server]") {
  using Args = std::vector<const char*>;
  const Args spelling = GENERATE(Args{"-p", "11300"}, Args{"-p11300"}, Args{"--port=11300"}, Args{"--port", "11300"},
                                 Args{"--po=11300"}, Args{"extra", "-p", "11300"});
  std::vector<const char*> argv{"cache_server"};
  argv.insert(argv.end(), spelling.begin(), spelling.end());
  const CliResult r = connkit::examples::parse_cache_server_command_line(static_cast<int>(argv.size()), argv.data());
  REQUIRE(r.action == CliAction::run);
  CHECK(r.config.server.listeners.at(0).port == 11300);
}

TEST_CASE("flags cluster and verbosity adds up", "[cache_server]") {
  CHECK(parse({"-vvv"}).config.server.verbosity == 3);
  CHECK(parse({"-v", "-v"}).config.server.verbosity == 2);
  CHECK(parse({"--verbose", "-vv"}).config.server.verbosity == 3);
  const CliResult r = parse({"-vCFt8"});
  REQUIRE(r.action == CliAction::run);
  CHECK(r.config.server.verbosity == 1);
  CHECK_FALSE(r.config.endpoint.cas_enabled);
  CHECK_FALSE(r.config.endpoint.flush_enabled);
  CHECK(r.config.server.threads == 8);
}

TEST_CASE("a UNIX socket disables network listening", "[cache_server]") {
  const CliResult r = parse({"-s", "/tmp/cache.sock", "-a", "0755", "-l", "10.0.0.1", "-p", "11300", "-U", "11300"});
  REQUIRE(r.action == CliAction::run);
  REQUIRE(r.config.server.listeners.size() == 1);
  const auto& l = r.config.server.listeners[0];
  CHECK(l.transport == connkit::Transport::unix_stream);
  CHECK(l.path == "/tmp/cache.sock");
  CHECK(l.unix_mode == 0755);
  CHECK(r.messages.empty());  // no network at all: -U opens nothing, as in memcached
}

TEST_CASE("option -l takes memcached's comma separated list, one listener each", "[cache_server]") {
  SECTION("two addresses") {
    const CliResult r = parse({"-l", "127.0.0.1,::1", "-p", "11400"});
    REQUIRE(r.action == CliAction::run);
    REQUIRE(r.config.server.listeners.size() == 2);
    CHECK(r.config.server.listeners[0].host == "127.0.0.1");
    CHECK(r.config.server.listeners[1].host == "::1");
    CHECK(r.config.server.listeners[1].port == 11400);
  }
  SECTION("bracketed IPv6, per-entry ports, ';' and repeated -l") {
    const CliResult r = parse({"-l", "[::1]:11500;127.0.0.2:11501", "-l", "[fe80::1]", "-l", "127.0.0.2:11501"});
    REQUIRE(r.action == CliAction::run);
    const auto& ls = r.config.server.listeners;
    REQUIRE(ls.size() == 3);  // the repeated entry is bound once
    CHECK((ls[0].host == "::1" && ls[0].port == 11500));
    CHECK((ls[1].host == "127.0.0.2" && ls[1].port == 11501));
    CHECK((ls[2].host == "fe80::1" && ls[2].port == 11211));
  }
  SECTION("* is every interface of both families") {
    const CliResult r = parse({"-l", "*"});
    REQUIRE(r.config.server.listeners.size() == 2);
    CHECK(r.config.server.listeners[0].host == "0.0.0.0");
    CHECK(r.config.server.listeners[1].host == "::");
  }
  SECTION("-p -1 asks for any free port") {
    CHECK(parse({"-p", "-1"}).config.server.listeners.at(0).port == 0);
  }
  SECTION("malformed entries") {
    CHECK(first_message(parse({"-l", "[::1"})) == "Invalid IPV6 address: \"[::1\"");
    const CliResult r = parse({"-l", "127.0.0.1:http"});
    CHECK(r.action == CliAction::fail);
    CHECK(r.exit_status == connkit::examples::exit_os_error);
    CHECK(first_message(r) == "Invalid port number: \"http\"");
  }
}

TEST_CASE("option -I takes k and m suffixes within memcached's limits", "[cache_server]") {
  CHECK(parse({"-I", "2m"}).config.store.item_size_max == 2u << 20);
  CHECK(parse({"-I", "512k"}).config.store.item_size_max == 512u << 10);
  CHECK(parse({"-I", "4096"}).config.store.item_size_max == 4096);
  CHECK(parse({"-m", "1024", "-I", "128M"}).config.store.item_size_max == 128u << 20);

  const CliResult small = parse({"-I", "1000"});
  CHECK(small.action == CliAction::fail);
  CHECK(small.exit_status == connkit::examples::exit_usage);
  CHECK(first_message(small) == "Item max size cannot be less than 1024 bytes.");
  CHECK(first_message(parse({"-I", "33m"})) == "Cannot set item size limit higher than 1/2 of memory max.");
  CHECK(first_message(parse({"-m", "4096", "-I", "2048m"})) == "Cannot set item size limit higher than a gigabyte.");
  CHECK(parse({"-I", "1g"}).action == CliAction::fail);
}

TEST_CASE("option -o implements idle_timeout and ignores memcached's tuning options", "[cache_server]") {
  const CliResult r = parse({"-o", "idle_timeout=5,slab_chunk_max=1m,no_modern", "-o", "hash_algorithm=murmur3,"});
  REQUIRE(r.action == CliAction::run);
  CHECK(r.config.server.idle_timeout == std::chrono::seconds(5));
  CHECK(r.config.ignored_options == std::vector<std::string>{"slab_chunk_max", "no_modern", "hash_algorithm"});

  SECTION("an unknown suboption is illegal") {
    const CliResult bad = parse({"-o", "idle_timeout=5,bogus"});
    CHECK(bad.action == CliAction::fail);
    CHECK(bad.exit_status == 1);
    CHECK(first_message(bad) == "Illegal suboption \"bogus\"");
    CHECK(parse({"-o", "ext_path=/mnt/x:1G"}).action == CliAction::fail);
  }
  SECTION("no_own_loop hands the workers to Asio's run(); it takes no value") {
    CHECK(r.config.server.own_loop);
    const CliResult off = parse({"-o", "no_own_loop"});
    REQUIRE(off.action == CliAction::run);
    CHECK_FALSE(off.config.server.own_loop);
    CHECK(parse({"-o", "no_own_loop=1"}).action == CliAction::fail);
  }
  SECTION("no_io_uring turns the send ring off; it takes no value") {
    CHECK(r.config.server.io_uring);
    const CliResult off = parse({"-o", "no_io_uring"});
    REQUIRE(off.action == CliAction::run);
    CHECK_FALSE(off.config.server.io_uring);
    CHECK(off.config.ignored_options.empty());
    CHECK(parse({"-o", "no_io_uring=1"}).action == CliAction::fail);
  }
  SECTION("a tuning option that needs a value still needs it") {
    CHECK(first_message(parse({"-o", "hashpower"})) == "Missing numeric argument for hashpower");
    CHECK(first_message(parse({"-o", "idle_timeout"})) == "Missing numeric argument for idle_timeout");
  }
}

TEST_CASE("bad values stop with memcached's messages", "[cache_server]") {
  const CliResult threads = parse({"-t", "0"});
  CHECK(threads.action == CliAction::fail);
  CHECK(threads.exit_status == 1);
  CHECK(first_message(threads) == "Number of threads must be greater than 0");
  CHECK(first_message(parse({"-c", "0"})) == "Maximum connections must be greater than 0");
  CHECK(first_message(parse({"-R", "0"})) == "Number of requests per event must be greater than 0");
  CHECK(first_message(parse({"-p", "70000"})) == "ERROR: Invalid port number 70000.");
  CHECK(first_message(parse({"-B", "http"})) == "Invalid value for binding protocol: http");
  CHECK(parse({"-B", "http"}).exit_status == connkit::examples::exit_usage);
  CHECK(first_message(parse({"-x"})) == "cache_server: invalid option -- 'x'");
  CHECK(first_message(parse({"--bogus"})) == "cache_server: unrecognized option '--bogus'");
  CHECK(first_message(parse({"-p"})) == "cache_server: option requires an argument -- 'p'");
  CHECK(first_message(parse({"--disable"})) == "cache_server: option '--disable' is ambiguous");
  CHECK(first_message(parse({"-p", "0"})) == "Nothing to listen on: -p 0 turns TCP off and UDP is off (-U 0)");
}

TEST_CASE("option -B picks the listeners' protocol", "[cache_server]") {
  using connkit::cache::ProtocolChoice;
  const CliResult r = parse({"-B", "ascii", "-l", "127.0.0.1,127.0.0.2"});
  CHECK(r.config.endpoint.protocol == ProtocolChoice::ascii);
  for (const auto& l : r.config.server.listeners) CHECK(l.name == "ascii");
  CHECK(r.config.protocols == std::vector<ProtocolChoice>{ProtocolChoice::ascii, ProtocolChoice::ascii});
  CHECK(parse({"--protocol=binary"}).config.endpoint.protocol == ProtocolChoice::binary);
  CHECK(parse({"-B", "auto"}).config.protocols == std::vector<ProtocolChoice>{ProtocolChoice::negotiate});
  CHECK(parse({}).config.protocols == std::vector<ProtocolChoice>{ProtocolChoice::negotiate});
  const CliResult unix_socket = parse({"-s", "/tmp/x.sock", "-B", "binary"});  // -B pins the UNIX socket too
  REQUIRE(unix_socket.config.server.listeners.size() == 1);
  CHECK(unix_socket.config.server.listeners[0].name == "binary");
  CHECK(unix_socket.config.protocols == std::vector<ProtocolChoice>{ProtocolChoice::binary});
}

TEST_CASE("option -l takes memcached's proto prefix per listener", "[cache_server]") {
  using connkit::cache::ProtocolChoice;
  const auto protocols = [](std::initializer_list<const char*> args) { return parse(args).config.protocols; };
  SECTION("each entry of a list, beside plain ones that follow -B") {
    const CliResult r = parse({"-B", "binary", "-l",
                               "proto[ascii]:127.0.0.1:11300,127.0.0.2,proto[negotiating]:[::1]:11301;proto[binary]:*"});
    REQUIRE(r.action == CliAction::run);
    const auto& ls = r.config.server.listeners;
    REQUIRE(ls.size() == 5);
    CHECK((ls[0].host == "127.0.0.1" && ls[0].port == 11300 && ls[0].name == "ascii"));
    CHECK((ls[1].host == "127.0.0.2" && ls[1].port == 11211 && ls[1].name == "binary"));
    CHECK((ls[2].host == "::1" && ls[2].port == 11301 && ls[2].name == "auto-negotiate"));
    CHECK((ls[3].host == "0.0.0.0" && ls[4].host == "::" && ls[3].name == "binary"));
    CHECK(r.config.protocols == std::vector<ProtocolChoice>{ProtocolChoice::ascii, ProtocolChoice::binary,
                                                            ProtocolChoice::negotiate, ProtocolChoice::binary,
                                                            ProtocolChoice::binary});
    CHECK(r.config.endpoint.protocol == ProtocolChoice::binary);  // stats settings still says -B's
  }
  SECTION("names compare as memcached's strncmp does") {
    CHECK(protocols({"-l", "proto[bin]:127.0.0.1"}) == std::vector<ProtocolChoice>{ProtocolChoice::binary});
    CHECK(protocols({"-l", "proto[]:127.0.0.1"}) == std::vector<ProtocolChoice>{ProtocolChoice::ascii});
    // Unknown names are no error in memcached: the listener keeps -B's protocol.
    CHECK(protocols({"-B", "ascii", "-l", "proto[asciii]:127.0.0.1"}) ==
          std::vector<ProtocolChoice>{ProtocolChoice::ascii});
    CHECK(protocols({"-l", "proto[text]:127.0.0.1"}) == std::vector<ProtocolChoice>{ProtocolChoice::negotiate});
  }
  SECTION("errors") {
    const CliResult unclosed = parse({"-l", "proto[ascii:127.0.0.1:11300"});
    CHECK(unclosed.action == CliAction::fail);
    CHECK(unclosed.exit_status == connkit::examples::exit_os_error);
    CHECK(first_message(unclosed) == "Invalid protocol spec: \"[ascii:127.0.0.1:11300\"");
    const CliResult proxy = parse({"-l", "proto[proxy]:127.0.0.1"});
    CHECK(proxy.exit_status == connkit::examples::exit_os_error);
    CHECK(first_message(proxy) == "Server not built with proxy: \"proto[proxy\"");
    CHECK(parse({"-l", "proto[ascii]:"}).exit_status == connkit::examples::exit_os_error);  // no address
    CHECK(parse({"-l", "tag[a]:127.0.0.1"}).exit_status == connkit::examples::exit_os_error);
  }
}

TEST_CASE("option -U opens a UDP listener on each -l address after the TCP ones", "[cache_server]") {
  using connkit::Transport;
  const CliResult r = parse({"-U", "11211"});
  REQUIRE(r.action == CliAction::run);
  CHECK(r.messages.empty());
  CHECK(r.config.udp_port == 11211);
  REQUIRE(r.config.server.listeners.size() == 2);
  CHECK(r.config.server.listeners[0].transport == Transport::tcp);
  CHECK(r.config.server.listeners[1].transport == Transport::udp);
  CHECK(r.config.server.listeners[1].host == "127.0.0.1");
  CHECK(r.config.server.listeners[1].port == 11211);

  SECTION("-U alone moves the TCP port too, as in memcached") {
    CHECK(parse({"-U", "11300"}).config.server.listeners.at(0).port == 11300);
    CHECK(parse({"-U", "11300", "-p", "11211"}).config.server.listeners.at(0).port == 11211);
  }
  SECTION("every -l address, an entry's own port for both transports (memcached's server_sockets)") {
    const CliResult l = parse({"-l", "127.0.0.1,127.0.0.2:11500", "-p", "11400", "-U", "11401"});
    REQUIRE(l.config.server.listeners.size() == 4);
    const auto& ls = l.config.server.listeners;
    CHECK((ls[0].transport == Transport::tcp && ls[0].port == 11400));
    CHECK((ls[1].transport == Transport::tcp && ls[1].port == 11500));
    CHECK((ls[2].transport == Transport::udp && ls[2].host == "127.0.0.1" && ls[2].port == 11401));
    CHECK((ls[3].transport == Transport::udp && ls[3].host == "127.0.0.2" && ls[3].port == 11500));
  }
  SECTION("-p 0 leaves UDP alone") {
    const CliResult u = parse({"-p", "0", "-U", "11401"});
    REQUIRE(u.config.server.listeners.size() == 1);
    CHECK(u.config.server.listeners[0].transport == Transport::udp);
  }
}

TEST_CASE("root must name a user, and -u is ignored otherwise", "[cache_server]") {
  using connkit::examples::privilege_action;
  CHECK(privilege_action(0, 0, "") == PrivilegeAction::refuse);
  CHECK(privilege_action(1000, 0, "") == PrivilegeAction::refuse);
  CHECK(privilege_action(0, 1000, "") == PrivilegeAction::refuse);
  CHECK(privilege_action(0, 0, "memcache") == PrivilegeAction::switch_user);
  CHECK(privilege_action(0, 0, "root") == PrivilegeAction::switch_user);
  CHECK(privilege_action(1000, 1000, "") == PrivilegeAction::keep);
  CHECK(privilege_action(1000, 1000, "memcache") == PrivilegeAction::keep);
  CHECK(parse({"-u", "memcache"}).config.user == "memcache");
}

TEST_CASE("option -h and -V stop parsing, and -h lists only what is implemented", "[cache_server]") {
  CHECK(parse({"-h", "-t", "0"}).action == CliAction::help);
  CHECK(parse({"--version"}).action == CliAction::version);
  CHECK(connkit::examples::cache_server_version_line() == "cache_server " + connkit::cache::EndpointOptions{}.version);
  const std::string usage = connkit::examples::cache_server_usage();
  CHECK(usage.rfind(connkit::examples::cache_server_version_line() + "\n", 0) == 0);
  for (const char* listed :
       {"-p, --port", "-U, --udp-port", "-s, --unix-socket", "-a, --unix-mask", "-l, --listen", "-u, --user",
        "-m, --memory-limit", "-c, --conn-limit", "-t, --threads", "-R, --max-reqs-per-event", "-B, --protocol",
        "-b, --listen-backlog", "-I, --max-item-size", "-C, --disable-cas", "-F, --disable-flush-all",
        "-o, --extended", "idle_timeout", "-A, --enable-shutdown", "-d, --daemon", "-r, --enable-coredumps",
        "-M, --disable-evictions", "-k, --lock-memory", "-i, --license", "-P, --pidfile",
         "-S, --enable-sasl", "-Y, --auth-file"}) {
    CAPTURE(listed);
    CHECK(usage.find(listed) != std::string::npos);
  }
  for (const char* missing : {"--enable-ssl"}) {
    CAPTURE(missing);
    CHECK(usage.find(missing) == std::string::npos);
  }
}
