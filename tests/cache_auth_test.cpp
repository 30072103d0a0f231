// Authentication (docs/cache.md, "Authentication"): the core's require_auth and auth
// counters, memcached's ascii login (-Y) and SASL PLAIN over the binary protocol (-S), in
// process and as the cache_server program (flags, exit statuses, SIGHUP), and the ascii
// login against Debian's memcached where it is installed.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <connkit/cache/endpoint.hpp>
#include <connkit/connkit.hpp>
#include <connkit/testing.hpp>

#include "cache/auth.hpp"
#include "support/binary_client.hpp"
#include "support/cache_fixture.hpp"
#include "support/child_process.hpp"
#include "support/client.hpp"

using connkit::test::ChildProcess;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::free_port;
using connkit::test::line_reply;
using connkit::test::req;
using namespace std::chrono_literals;

namespace {

/// A file in the working directory, removed when this goes.
struct TempFile {
  explicit TempFile(const std::string& text)
      : path(std::filesystem::absolute("cache_auth_" + std::to_string(::getpid()) + "_" + std::to_string(++made))) {
    write(text);
  }
  ~TempFile() { std::remove(path.c_str()); }
  void write(const std::string& text) const {
    // Written to a new file and renamed over, so a reader sees the old or the new whole.
    const std::string next = path + ".new";
    std::ofstream(next, std::ios::binary) << text;
    std::filesystem::rename(next, path);
  }
  static inline int made = 0;
  std::string path;
};

const std::string users = "alice:secret\nbob:hunter2\ncarol:pa:ss\r\n";

/// A store, an endpoint configured by `options` (its protocol chosen by the auth settings,
/// as cache_server's are) and a one-worker server on a free port.
struct AuthFixture {
  explicit AuthFixture(connkit::cache::EndpointOptions options) {
    store = std::make_unique<connkit::cache::Store>(connkit::cache::StoreOptions{});
    endpoint = std::make_unique<connkit::cache::Endpoint>(*store, std::move(options));
    if (!endpoint->options().auth_file.empty()) REQUIRE(endpoint->load_auth_file().empty());
    connkit::ListenerOptions l;
    endpoint->configure(l, connkit::cache::ProtocolChoice::negotiate);
    connkit::ServerOptions so;
    so.threads = 1;
    so.listeners.push_back(std::move(l));
    server = std::make_unique<connkit::Server>(std::move(so));
    endpoint->attach(*server);
    server->start();
  }
  Client client() { return Client::tcp(server->port()); }
  std::uint64_t auth_cmds() const { return endpoint->connection_stats().total.auth_cmds; }
  std::uint64_t auth_errors() const { return endpoint->connection_stats().total.auth_errors; }

  std::unique_ptr<connkit::cache::Store> store;
  std::unique_ptr<connkit::cache::Endpoint> endpoint;
  std::unique_ptr<connkit::Server> server;
};

connkit::cache::EndpointOptions ascii_login(const std::string& auth_file) {
  connkit::cache::EndpointOptions o;
  o.auth_file = auth_file;
  return o;
}

connkit::cache::EndpointOptions sasl_plain(const std::string& pwdb) {
  connkit::cache::EndpointOptions o;
  o.sasl = true;
  o.sasl_pwdb = pwdb;
  return o;
}

/// The ascii login's `set` for `user` and `password`.
std::string login(const std::string& user, const std::string& password, const std::string& key = "k") {
  const std::string value = user + " " + password;
  return "set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

/// A SASL PLAIN message.
std::string plain(const std::string& authzid, const std::string& user, const std::string& password) {
  return authzid + std::string(1, '\0') + user + std::string(1, '\0') + password;
}

constexpr std::uint8_t list_mechs = 0x20, sasl_auth = 0x21, sasl_step = 0x22;
constexpr std::uint8_t op_get = 0x00, op_set = 0x01, op_version = 0x0b;

}  // namespace

TEST_CASE("auth files are read by memcached's rules", "[cache][auth]") {
  using connkit::cache::detail::Credential;
  using connkit::cache::detail::parse_credentials;
  std::vector<Credential> out;
  REQUIRE(parse_credentials("alice:secret\nbob:a:b\r\nlast:nonl", out));
  REQUIRE(out.size() == 3);
  CHECK(out[0].user == "alice");
  CHECK(out[0].password == "secret");
  CHECK(out[1].password == "a:b");  // the password runs to the end of the line
  CHECK(out[2].password == "nonl");
  CHECK(parse_credentials("", out));
  CHECK(out.empty());
  CHECK_FALSE(parse_credentials("alice:secret\n\n", out));  // an empty line is malformed
  CHECK_FALSE(parse_credentials("# comment\nalice:secret\n", out));
  CHECK_FALSE(parse_credentials(std::string("al\0ce:x\n", 8), out));

  connkit::cache::detail::PlainMessage m;
  const std::string message = plain("", "alice", "secret");
  REQUIRE(connkit::cache::detail::parse_plain(message, m));
  CHECK(m.user == "alice");
  CHECK(m.password == "secret");
  CHECK_FALSE(connkit::cache::detail::parse_plain("alice", m));
  CHECK_FALSE(connkit::cache::detail::parse_plain(plain("", "alice", "sec") + std::string(1, '\0'), m));
}

TEST_CASE("a require_auth listener's connections start unauthenticated and record attempts", "[auth][core]") {
  // A handler that logs in with "LOGIN ok" and serves "PING" only afterwards.
  class Gate final : public connkit::ProtocolHandler {
   public:
    connkit::Action on_input(connkit::Connection& conn, std::span<const char> input) override {
      const std::string_view text(input.data(), input.size());
      const std::size_t eol = text.find("\r\n");
      if (eol == std::string_view::npos) return connkit::Action::need_more();
      const std::string_view line = text.substr(0, eol);
      if (line.substr(0, 6) == "LOGIN ") {
        conn.record_auth(line.substr(6) == "ok");
        conn.reply(conn.authenticated() ? "WELCOME\r\n" : "DENIED\r\n");
      } else {
        conn.reply(conn.authenticated() ? "PONG\r\n" : "LOGIN FIRST\r\n");
      }
      return connkit::Action::consumed(eol + 2);
    }
  };
  connkit::ServerOptions options;
  options.listeners.emplace_back();
  options.listeners.front().require_auth = true;
  connkit::testing::HandlerHarness h([] { return std::make_unique<Gate>(); }, options);
  CHECK(h.exchange("PING\r\nLOGIN no\r\nPING\r\nLOGIN ok\r\nPING\r\n", 3) ==
        "LOGIN FIRST\r\nDENIED\r\nLOGIN FIRST\r\nWELCOME\r\nPONG\r\n");
  CHECK(h.stats().auth_cmds == 2);
  CHECK(h.stats().auth_errors == 1);

  connkit::testing::HandlerHarness open([] { return std::make_unique<Gate>(); });
  CHECK(open.exchange("PING\r\n") == "PONG\r\n");  // no require_auth: authenticated from the start
}

TEST_CASE("ascii login: every command waits for a set carrying user and password", "[cache][auth]") {
  TempFile file(users);
  AuthFixture f(ascii_login(file.path));
  Client c = f.client();
  CHECK(line_reply(c, "get foo\r\n") == "CLIENT_ERROR unauthenticated\r\n");
  CHECK(line_reply(c, "stats\r\n") == "CLIENT_ERROR unauthenticated\r\n");
  CHECK(line_reply(c, "mg foo v\r\n") == "CLIENT_ERROR unauthenticated\r\n");
  CHECK(line_reply(c, "set k 0 0 x\r\n") == "CLIENT_ERROR unauthenticated\r\n");
  CHECK(line_reply(c, "set k 0 0 5\r\nalice\r\n") == "CLIENT_ERROR bad authentication token format\r\n");
  CHECK(line_reply(c, "set k 0 0 5\r\nalicexx") == "CLIENT_ERROR bad command line termination\r\n");
  CHECK(line_reply(c, login("alice", "wrong")) == "CLIENT_ERROR authentication failure\r\n");
  CHECK(line_reply(c, login("nobody", "secret")) == "CLIENT_ERROR authentication failure\r\n");
  CHECK(line_reply(c, "get k\r\n") == "CLIENT_ERROR unauthenticated\r\n");  // still open, still locked
  CHECK(line_reply(c, login("alice", "secret")) == "STORED\r\n");
  CHECK(line_reply(c, "get k\r\n") == "END\r\n");  // the login stored nothing
  CHECK(line_reply(c, "set k 0 0 1\r\nv\r\n") == "STORED\r\n");  // now a set is a set
  CHECK(line_reply(c, "get k\r\n") == "VALUE k 0 1\r\n");

  // Per connection: a second client starts locked; every user of the file can log in.
  Client other = f.client();
  CHECK(line_reply(other, "get k\r\n") == "CLIENT_ERROR unauthenticated\r\n");
  CHECK(line_reply(other, login("bob", "hunter2")) == "STORED\r\n");
  Client third = f.client();
  CHECK(line_reply(third, login("carol", "pa:ss")) == "STORED\r\n");
  CHECK(f.auth_cmds() == 5);
  CHECK(f.auth_errors() == 2);
}

TEST_CASE("ascii login answers each pipelined command and bounds what it buffers", "[cache][auth]") {
  TempFile file(users);
  AuthFixture f(ascii_login(file.path));
  Client c = f.client();
  // memcached 1.6.18 keeps only the last of these replies; each is answered here.
  REQUIRE(c.send_all("get a\r\n" + login("alice", "bad") + login("alice", "secret") + "get a\r\n"));
  CHECK(c.recv_n(80) ==
        "CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR authentication failure\r\nSTORED\r\nEND\r\n");
  Client junk = f.client();
  REQUIRE(junk.send_all(std::string(3000, 'x')));  // no newline in 2 KB: closed, as memcached
  CHECK(junk.wait_closed());
  Client huge = f.client();
  REQUIRE(huge.send_all("set k 0 0 20000\r\n"));  // more than memcached's read buffer holds
  CHECK(huge.wait_closed());
}

TEST_CASE("a failed reload of the auth file keeps the users read before", "[cache][auth]") {
  TempFile file(users);
  AuthFixture f(ascii_login(file.path));
  file.write("alice:newpass\n");
  CHECK(f.endpoint->load_auth_file().empty());
  Client c = f.client();
  CHECK(line_reply(c, login("alice", "secret")) == "CLIENT_ERROR authentication failure\r\n");
  CHECK(line_reply(c, login("alice", "newpass")) == "STORED\r\n");
  file.write("alice:third\n\nbroken\n");
  CHECK(f.endpoint->load_auth_file() ==
        "Authfile [" + file.path + "] has a malformed entry. Should be 'user:password'");
  Client d = f.client();
  CHECK(line_reply(d, login("alice", "newpass")) == "STORED\r\n");
}

TEST_CASE("SASL PLAIN over the binary protocol", "[cache][auth][binary]") {
  TempFile pwdb("alice:secret\nbob:hunter2:extra\n");
  AuthFixture f(sasl_plain(pwdb.path));
  Client c = f.client();
  CHECK(call(c, req(list_mechs)) == "op=20 status=0 value=PLAIN");
  CHECK(call(c, req(op_version)) == "op=0b status=0 value=1.6.18-connkit");  // allowed before login
  CHECK(call(c, req(sasl_auth, "PLAIN", {}, plain("", "alice", "wrong"))) == "op=21 status=32 value=Auth failure.");
  CHECK(call(c, req(sasl_auth, "SCRAM-SHA-1", {}, plain("", "alice", "secret"))) ==
        "op=21 status=32 value=Auth failure.");
  CHECK(call(c, req(sasl_auth, "PLAIN", {}, plain("bob", "alice", "secret"))) ==
        "op=21 status=32 value=Auth failure.");  // may act only as itself
  CHECK(call(c, req(sasl_step, "PLAIN", {}, plain("", "alice", "secret"))) ==
        "op=22 status=32 value=Auth failure.");  // no exchange begun
  CHECK(call(c, req(sasl_auth, "PLAIN", {}, plain("", "alice", "secret"))) == "op=21 status=0 value=Authenticated");
  CHECK(call(c, req(op_set, "k", connkit::test::store_extras(0, 0), "v")) == "op=01 status=0 cas");
  CHECK(call(c, req(op_get, "k")) == "op=00 status=0 extras=0 value=v cas");
  CHECK(f.auth_cmds() == 5);
  CHECK(f.auth_errors() == 4);

  // AUTH without data asks for the credentials (0x21), which come in a STEP.
  Client s = f.client();
  CHECK(call(s, req(sasl_auth, "plain")) == "op=21 status=33");
  CHECK(call(s, req(sasl_step, "PLAIN", {}, plain("bob", "bob", "hunter2"))) == "op=22 status=0 value=Authenticated");
  CHECK(call(s, req(op_get, "k")) == "op=00 status=0 extras=0 value=v cas");

  // Before login any other request is refused and the connection closed (per connection).
  Client locked = f.client();
  CHECK(call(locked, req(op_get, "k")) == "op=00 status=32 value=Auth failure.");
  CHECK(locked.wait_closed());

  // The password file is read at each attempt: an edit counts at once.
  pwdb.write("alice:changed\n");
  Client later = f.client();
  CHECK(call(later, req(sasl_auth, "PLAIN", {}, plain("", "alice", "secret"))) == "op=21 status=32 value=Auth failure.");
  CHECK(call(later, req(sasl_auth, "PLAIN", {}, plain("", "alice", "changed"))) ==
        "op=21 status=0 value=Authenticated");
}

TEST_CASE("auth_cmds and auth_errors are in stats after store_no_memory, and stats reset clears them",
          "[cache][auth][stats]") {
  TempFile file(users);
  AuthFixture f(ascii_login(file.path));
  Client c = f.client();
  CHECK(line_reply(c, login("alice", "x")) == "CLIENT_ERROR authentication failure\r\n");
  CHECK(line_reply(c, login("alice", "secret")) == "STORED\r\n");
  const std::string stats = connkit::test::stats_reply(c, "stats\r\n");
  CHECK(stats.find("STAT store_no_memory 0\r\nSTAT auth_cmds 2\r\nSTAT auth_errors 1\r\nSTAT bytes_read ") !=
        std::string::npos);
  const std::string settings = connkit::test::stats_reply(c, "stats settings\r\n");
  CHECK(settings.find("STAT binding_protocol ascii\r\nSTAT auth_enabled_sasl no\r\nSTAT auth_enabled_ascii " +
                      file.path + "\r\nSTAT item_size_max ") != std::string::npos);
  CHECK(line_reply(c, "stats reset\r\n") == "RESET\r\n");
  CHECK(f.auth_cmds() == 0);
  CHECK(f.auth_errors() == 0);
}

namespace {

/// cache_server (or memcached) run with `args`, its stderr kept in a file.
struct Program {
  Program(const std::string& path, std::vector<std::string> args)
      : log_path("cache_auth_" + std::to_string(::getpid()) + "_" + std::to_string(++runs) + ".log"),
        process(argv(path, std::move(args)), log_path) {}
  ~Program() { std::remove(log_path.c_str()); }
  static std::vector<std::string> argv(const std::string& path, std::vector<std::string> args) {
    args.insert(args.begin(), path);
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "root"});
    return args;
  }
  std::string log() const {
    std::ifstream in(log_path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  Client connect(std::uint16_t port) { return connkit::test::tcp_when_ready(port); }
  static inline int runs = 0;
  std::string log_path;
  ChildProcess process;
};

/// cache_server's exit status and stderr for `args`.
std::pair<int, std::string> refused(std::vector<std::string> args) {
  Program p(CONNKIT_CACHE_SERVER, std::move(args));
  const int status = p.process.wait_exit();
  return {status, p.log()};
}

}  // namespace

TEST_CASE("cache_server refuses -S and -Y with the other protocol or UDP, as memcached", "[cache][auth][program]") {
  TempFile file(users);
  const std::string port = std::to_string(free_port());
  using R = std::pair<int, std::string>;
  CHECK(refused({"-p", port, "-S", "-B", "ascii"}) ==
        R{64, "ERROR: You cannot allow the ASCII protocol while using SASL.\n"});
  CHECK(refused({"-p", port, "-S", "-B", "auto"}) ==
        R{64, "ERROR: You cannot allow the ASCII protocol while using SASL.\n"});
  CHECK(refused({"-p", port, "-S", "-U", "11311"}) ==
        R{64, "ERROR: Cannot enable UDP while using binary SASL authentication.\n"});
  CHECK(refused({"-p", port, "-Y", file.path, "-B", "binary"}) ==
        R{64, "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.\n"});
  CHECK(refused({"-p", port, "-Y", file.path, "-U", "11311"}) ==
        R{64, "Cannot use UDP with ascii authentication enabled (-U 0 to disable)\n"});
  CHECK(refused({"-p", port, "-Y", "/nonexistent/auth"}) ==
        R{1, "Could not open authfile [/nonexistent/auth] for reading, error No such file or directory: No such "
             "file or directory\n"});
  TempFile bad("alice:secret\n\n");
  CHECK(refused({"-p", port, "-Y", bad.path}) ==
        R{1, "Authfile [" + bad.path + "] has a malformed entry. Should be 'user:password'\n"});
}

TEST_CASE("cache_server -S serves only the binary protocol, -Y only ascii, and SIGHUP re-reads -Y's file",
          "[cache][auth][program]") {
  TempFile pwdb("alice:secret\n");
  ::setenv("MEMCACHED_SASL_PWDB", pwdb.path.c_str(), 1);
  const std::uint16_t sasl_port = free_port();
  Program sasl(CONNKIT_CACHE_SERVER, {"-p", std::to_string(sasl_port), "-U", "0", "-S"});
  ::unsetenv("MEMCACHED_SASL_PWDB");
  Client b = sasl.connect(sasl_port);
  CHECK(call(b, req(sasl_auth, "PLAIN", {}, plain("", "alice", "secret"))) == "op=21 status=0 value=Authenticated");
  Client text = sasl.connect(sasl_port);
  REQUIRE(text.send_all("version\r\n"));
  CHECK(text.wait_closed());  // not binary: memcached's "Invalid magic" close

  TempFile file("alice:secret\n");
  const std::uint16_t port = free_port();
  Program ascii(CONNKIT_CACHE_SERVER, {"-p", std::to_string(port), "-U", "0", "-Y", file.path});
  Client c = ascii.connect(port);
  CHECK(line_reply(c, login("alice", "secret")) == "STORED\r\n");
  Client bin = ascii.connect(port);
  // Binary bytes are ascii here: a NOOP header (its opcode byte is "\n") is one bad line.
  CHECK(line_reply(bin, connkit::test::encode(req(0x0a))) == "CLIENT_ERROR unauthenticated\r\n");

  file.write("alice:rotated\nbob:hunter2\n");
  ::kill(ascii.process.pid(), SIGHUP);
  // The reload happens on the server's own time: poll until the new password works.
  CHECK(eventually([&] {
    Client d = ascii.connect(port);
    return line_reply(d, login("alice", "rotated")) == "STORED\r\n";
  }));
  Client e = ascii.connect(port);
  CHECK(line_reply(e, login("alice", "secret")) == "CLIENT_ERROR authentication failure\r\n");
  CHECK(line_reply(e, login("bob", "hunter2")) == "STORED\r\n");
  CHECK(line_reply(c, "get k\r\n") == "END\r\n");  // a logged-in connection stays so
}

TEST_CASE("ascii login replies match memcached's, request by request", "[cache][auth][differential]") {
  const char* memcached = "/usr/bin/memcached";
  if (!std::filesystem::exists(memcached)) {
    WARN("no " << memcached << ": differential test not run");
    return;
  }
  TempFile file(users);
  // One request at a time (memcached 1.6.18 loses replies to pipelined unauthenticated commands).
  const std::vector<std::string> script = {
      "get foo\r\n", "stats\r\n", "set k 0 0\r\n", "SET k 0 0 12\r\n", "set k 0 0 -1\r\n",
      "set k 0 0 5\r\nabcde\r\n", "set k 0 0 5\r\nabcdeXY", login("alice", "wrong"), login("nobody", "secret"),
      "set k 0 0 13\r\n alice secret\r\n", "set k 0 0 18\r\nalice secret extra\r\n", login("carol", "pa:ss"),
      "get k\r\n", "set k 0 0 1\r\nv\r\n", "get k\r\n",
  };
  auto run = [&](const std::string& path) {
    const std::uint16_t port = free_port();
    Program p(path, {"-p", std::to_string(port), "-U", "0", "-Y", file.path});
    Client c = p.connect(port);
    std::vector<std::string> replies;
    for (const std::string& request : script) {
      std::string reply = line_reply(c, request);
      while (reply.rfind("VALUE ", 0) == 0 && reply.find("END\r\n") == std::string::npos) {
        const std::string more = connkit::test::recv_line(c);
        if (more.empty()) break;
        reply += more;
      }
      replies.push_back(reply);
    }
    Client d = p.connect(port);
    replies.push_back(line_reply(d, login("bob", "hunter2")));
    return replies;
  };
  CHECK(run(CONNKIT_CACHE_SERVER) == run(memcached));
}

TEST_CASE("libmemcached's memcstat logs in with SASL PLAIN", "[cache][auth][program]") {
  const char* memcstat = "/usr/bin/memcstat";
  if (!std::filesystem::exists(memcstat)) {
    WARN("no " << memcstat << ": libmemcached client test not run");
    return;
  }
  TempFile pwdb("alice:secret\n");
  ::setenv("MEMCACHED_SASL_PWDB", pwdb.path.c_str(), 1);
  const std::uint16_t port = free_port();
  Program server(CONNKIT_CACHE_SERVER, {"-p", std::to_string(port), "-U", "0", "-S"});
  ::unsetenv("MEMCACHED_SASL_PWDB");
  server.connect(port);
  auto memcstat_status = [&](const std::string& password) {
    const std::string command = std::string(memcstat) + " --servers=127.0.0.1:" + std::to_string(port) +
                                " --binary --username=alice --password=" + password + " >/dev/null 2>&1";
    ChildProcess run({"/bin/sh", "-c", command});
    return run.wait_exit();
  };
  CHECK(memcstat_status("secret") == 0);
  CHECK(memcstat_status("wrong") == 1);
}
