// cache_server's operator flags, run as a program the way an operator or a service manager
// runs memcached 1.6.18: -d and -P, -A with `shutdown`, SIGUSR1, -M, -r, -k, -i, the
// silence at -v0 and the -vv lines. The replies that memcached's own binary gives are
// compared with it where /usr/bin/memcached is installed. Every process started here is
// killed at the end of its test, daemons included, whatever the outcome.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <connkit/cache/store.hpp>

#include "cache_options.hpp"
#include "support/child_process.hpp"
#include "support/client.hpp"

using connkit::test::ChildProcess;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::free_port;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

/// A name unique to this test process and call, for files under /tmp.
std::string unique_path(const std::string& what) {
  static int calls = 0;
  return "/tmp/connkit-ops-" + std::to_string(::getpid()) + "-" + std::to_string(++calls) + "-" + what;
}

/// Whether a process runs (a zombie counts as gone).
bool running(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const std::size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

/// SIGKILLs every process whose command line holds `argument`: a daemon is not our child,
/// so it is found by the unique pid file or socket path it was started with.
void kill_processes_with(const std::string& argument) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (const dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0 || pid == ::getpid()) continue;
    const std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    std::size_t start = 0;
    for (std::size_t end = 0; (end = cmdline.find('\0', start)) != std::string::npos; start = end + 1) {
      if (cmdline.compare(start, end - start, argument) == 0) {
        ::kill(pid, SIGKILL);
        break;
      }
    }
  }
  ::closedir(proc);
}

/// cache_server (or memcached) on a free loopback port, with -t 1 and, as root, -u root;
/// stdout and stderr kept in files. `daemon_marker`, an argument unique to this start (its
/// pid file), lets the destructor find and kill a daemon it started.
struct Program {
  Program(const char* path, std::vector<std::string> args, std::string daemon_marker = {})
      : port(free_port()),
        out_path(unique_path("stdout")),
        err_path(unique_path("stderr")),
        marker(std::move(daemon_marker)),
        process(argv(path, std::move(args)), err_path, out_path) {}
  ~Program() {
    process.kill();
    if (!marker.empty()) kill_processes_with(marker);
    std::remove(out_path.c_str());
    std::remove(err_path.c_str());
  }

  std::vector<std::string> argv(const char* path, std::vector<std::string> args) const {
    args.insert(args.begin(), {path, "-l", "127.0.0.1", "-p", std::to_string(port), "-U", "0", "-t", "1"});
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "root"});
    return args;
  }
  std::string out() const { return read_file(out_path); }
  std::string err() const { return read_file(err_path); }
  bool logged(const std::string& text) const {
    return eventually([&] { return err().find(text) != std::string::npos; });
  }
  /// A connection, retried until the server listens (it was just started).
  Client connect() const { return connkit::test::tcp_when_ready(port); }

  std::uint16_t port;
  std::string out_path;
  std::string err_path;
  std::string marker;
  ChildProcess process;
};

Program cache_server(std::vector<std::string> args) { return Program(CONNKIT_CACHE_SERVER, std::move(args)); }

const char* const memcached_path = "/usr/bin/memcached";

/// Reads until the reply ends with `end` (or 5 s pass); returns what arrived.
std::string read_until(Client& c, std::string_view end) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  char buf[65536];
  while (got.size() < end.size() || got.compare(got.size() - end.size(), end.size(), end) != 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{c.fd(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

/// One `STAT name value` of a stats reply, or "" when absent.
std::string stat_value(const std::string& stats, const std::string& name) {
  const std::string key = "STAT " + name + " ";
  const std::size_t at = stats.find(key);
  if (at == std::string::npos) return {};
  const std::size_t start = at + key.size();
  return stats.substr(start, stats.find("\r\n", start) - start);
}

/// Whether the server answers `version` on `c` (the whole line is read).
bool serves(Client& c) {
  c.send_all("version\r\n");
  return read_until(c, "\r\n").rfind("VERSION ", 0) == 0;
}

std::string stats(Client& c, const std::string& group = {}) {
  c.send_all(group.empty() ? "stats\r\n" : "stats " + group + "\r\n");
  return read_until(c, "END\r\n");
}

/// A field of /proc/PID/status ("VmLck") or limits line ("Max core file size").
std::string proc_line(pid_t pid, const std::string& file, const std::string& prefix) {
  std::istringstream lines(read_file("/proc/" + std::to_string(pid) + "/" + file));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return {};
}

/// A binary SET of `value` under `key` with opaque 7.
std::string binary_set(const std::string& key, const std::string& value) {
  std::string h(24, '\0');
  h[0] = static_cast<char>(0x80);
  h[1] = 0x01;
  h[3] = static_cast<char>(key.size());
  h[4] = 8;  // extras: flags and expiry
  const std::uint32_t body = static_cast<std::uint32_t>(8 + key.size() + value.size());
  for (int i = 0; i < 4; ++i) h[8 + i] = static_cast<char>((body >> (24 - 8 * i)) & 0xff);
  h[15] = 7;
  return h + std::string(8, '\0') + key + value;
}

/// Fills a 2 MB -M server with 100 kB values until one is refused; returns the replies, the
/// last one the refusal (or the 60th STORED if none came).
std::vector<std::string> fill(Client& c, const std::string& value) {
  std::vector<std::string> replies;
  for (int i = 0; i < 60; ++i) {
    const std::string line = "set k" + std::to_string(i) + " 0 0 " + std::to_string(value.size()) + "\r\n";
    c.send_all(line + value + "\r\n");
    replies.push_back(read_until(c, "\r\n"));
    if (replies.back() != "STORED\r\n") break;
  }
  return replies;
}

}  // namespace

TEST_CASE("cache_server reads memcached's operator flags", "[cache_server]") {
  using connkit::examples::CliAction;
  const auto parse = [](std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"cache_server"};
    argv.insert(argv.end(), args);
    return connkit::examples::parse_cache_server_command_line(static_cast<int>(argv.size()), argv.data());
  };
  const auto r = parse({"-d", "-P", "/run/x.pid", "-A", "-M", "-r", "-k"});
  REQUIRE(r.action == CliAction::run);
  CHECK(r.config.daemonize);
  CHECK(r.config.pid_file == "/run/x.pid");
  CHECK(r.config.enable_shutdown);
  CHECK_FALSE(r.config.store.evictions);
  CHECK(r.config.raise_core_limit);
  CHECK(r.config.lock_memory);
  const auto defaults = parse({});
  CHECK_FALSE(defaults.config.daemonize);
  CHECK(defaults.config.pid_file.empty());
  CHECK_FALSE(defaults.config.enable_shutdown);
  CHECK(defaults.config.store.evictions);
  CHECK(parse({"--daemon", "--pidfile=/p", "--enable-shutdown", "--disable-evictions"}).config.pid_file == "/p");
  CHECK(parse({"-i"}).action == CliAction::license);
  CHECK(parse({"--license"}).action == CliAction::license);
  const auto ignored = parse({"-L", "-e", "/dev/shm/memory", "-N", "1"});
  REQUIRE(ignored.action == CliAction::run);
  CHECK(ignored.messages.empty());
  CHECK(ignored.config.ignored_options == std::vector<std::string>{"-L", "-e", "-N"});
}

TEST_CASE("cache_server -d -P answers once listening, as a daemon holding nothing it inherited", "[cache_server]") {
  const std::string pid_file = unique_path("daemon.pid");
  int inherited[2];
  REQUIRE(::pipe(inherited) == 0);  // not close-on-exec: the launcher and its daemon inherit both ends
  std::optional<Program> launcher;
  launcher.emplace(CONNKIT_CACHE_SERVER, std::vector<std::string>{"-d", "-P", pid_file}, pid_file);
  ::close(inherited[1]);
  REQUIRE(launcher->process.wait_exit() == 0);

  // The launcher returned only once the daemon listened and wrote its pid file.
  REQUIRE(exists(pid_file));
  const std::string text = read_file(pid_file);
  const long pid = std::atol(text.c_str());
  CHECK(text == std::to_string(pid) + "\n");
  REQUIRE(pid > 0);
  CHECK(running(static_cast<pid_t>(pid)));
  Client c = Client::tcp(launcher->port);  // no retry: it listens already
  CHECK(stat_value(stats(c), "pid") == std::to_string(pid));

  // memcached's daemon(): its own session, in "/", stdio on /dev/null.
  CHECK(::getsid(static_cast<pid_t>(pid)) == static_cast<pid_t>(pid));
  char cwd[256] = {};
  CHECK(::readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), cwd, sizeof cwd - 1) > 0);
  CHECK(std::string(cwd) == "/");
  for (int fd = 0; fd <= 2; ++fd) {
    char target[256] = {};
    const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
    CHECK(::readlink(link.c_str(), target, sizeof target - 1) > 0);
    CHECK(std::string(target) == "/dev/null");
  }
  // The write end it inherited is closed: the pipe reads EOF although the daemon runs.
  pollfd p{inherited[0], POLLIN, 0};
  CHECK(::poll(&p, 1, 5000) == 1);
  char byte = 0;
  CHECK(::read(inherited[0], &byte, 1) == 0);
  ::close(inherited[0]);
  CHECK(launcher->out().empty());
  CHECK(launcher->err().empty());

  // SIGTERM: it stops and takes its pid file with it.
  REQUIRE(::kill(static_cast<pid_t>(pid), SIGTERM) == 0);
  CHECK(eventually([&] { return !running(static_cast<pid_t>(pid)); }, 10s));
  CHECK_FALSE(exists(pid_file));
  std::remove(pid_file.c_str());
}

TEST_CASE("cache_server -d that cannot listen fails with the daemon's status and message", "[cache_server]") {
  const std::string pid_file = unique_path("failed.pid");
  Program first = cache_server({});
  first.connect();  // holds the port
  Program second(CONNKIT_CACHE_SERVER, {"-d", "-P", pid_file, "-p", std::to_string(first.port)}, pid_file);
  CHECK(second.process.wait_exit() == 71);  // memcached's EX_OSERR for a listener that cannot open
  CHECK(second.err().find("failed to listen") != std::string::npos);
  CHECK_FALSE(exists(pid_file));
}

TEST_CASE("cache_server -P without -d writes the pid file and removes it on SIGINT", "[cache_server]") {
  const std::string pid_file = unique_path("foreground.pid");
  Program server = cache_server({"-P", pid_file});
  Client c = server.connect();
  REQUIRE(eventually([&] { return exists(pid_file); }));
  CHECK(read_file(pid_file) == std::to_string(server.process.pid()) + "\n");
  CHECK(stat_value(stats(c), "pid") == std::to_string(server.process.pid()));
  REQUIRE(::kill(server.process.pid(), SIGINT) == 0);
  CHECK(server.process.wait_exit() == 0);
  CHECK_FALSE(exists(pid_file));
  CHECK(server.err().empty());
}

TEST_CASE("cache_server answers shutdown with memcached's refusal unless -A", "[cache_server]") {
  Program server = cache_server({});
  Client c = server.connect();
  for (const char* line : {"shutdown\r\n", "shutdown graceful\r\n", "shutdown now\r\n"}) {
    CAPTURE(line);
    const std::string refusal = "ERROR: shutdown not enabled\r\n";
    CHECK(c.roundtrip(line, refusal.size()) == refusal);
  }
  CHECK(serves(c));
  CHECK(server.process.wait_exit(100ms) == -1);  // still serving
}

TEST_CASE("cache_server -A stops on shutdown and shutdown graceful within seconds with idle clients",
          "[cache_server]") {
  const auto stop_with = [](const std::string& line, const std::string& printed) {
    Program server = cache_server({"-A"});
    Client idle = server.connect();
    Client ascii_idle = server.connect();
    CHECK(serves(ascii_idle));
    Client c = server.connect();
    REQUIRE(c.send_all(line));
    std::string reply;
    CHECK(c.read_to_eof(reply));  // closed without a word, as memcached does
    CHECK(reply.empty());
    const auto started = std::chrono::steady_clock::now();
    CHECK(server.process.wait_exit(10s) == 0);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK(server.err() == printed);
    CHECK(server.out().empty());
  };
  SECTION("shutdown") { stop_with("shutdown\r\n", ""); }
  SECTION("shutdown graceful") { stop_with("shutdown graceful\r\n", "Gracefully stopping\n"); }
  SECTION("a bad mode is refused and the server serves on") {
    Program server = cache_server({"-A"});
    Client c = server.connect();
    const std::string refusal = "CLIENT_ERROR invalid shutdown mode\r\n";
    for (const char* line : {"shutdown now\r\n", "shutdown graceful now\r\n", "shutdown noreply\r\n"}) {
      CAPTURE(line);
      CHECK(c.roundtrip(line, refusal.size()) == refusal);
    }
    CHECK(serves(c));
    CHECK(server.process.wait_exit(100ms) == -1);
  }
}

TEST_CASE("cache_server stops gracefully on SIGUSR1 and says so at any verbosity", "[cache_server]") {
  Program server = cache_server({});
  Client idle = server.connect();
  REQUIRE(::kill(server.process.pid(), SIGUSR1) == 0);
  CHECK(server.process.wait_exit(10s) == 0);
  CHECK(server.err() == "Gracefully stopping\n");
  CHECK(idle.wait_closed());
}

TEST_CASE("cache_server is silent at -v0 from start to SIGTERM or SIGINT, and says Exiting normally at -v",
          "[cache_server]") {
  const auto run = [](std::vector<std::string> args, int signal_number) {
    Program server = cache_server(std::move(args));
    Client c = server.connect();
    CHECK(c.roundtrip("set k 0 0 1\r\nx\r\nget nope\r\nbogus\r\n", 20) == "STORED\r\nEND\r\nERROR\r\n");
    REQUIRE(::kill(server.process.pid(), signal_number) == 0);
    CHECK(server.process.wait_exit(10s) == 0);
    CHECK(server.out().empty());
    return server.err();
  };
  CHECK(run({}, SIGTERM).empty());
  CHECK(run({}, SIGINT).empty());
  const std::string verbose = run({"-v"}, SIGTERM);
  CHECK(verbose.size() >= 17);
  CHECK(verbose.substr(verbose.size() - 17) == "Exiting normally\n");
}

TEST_CASE("cache_server -vv logs each text command and its reply as memcached does", "[cache_server]") {
  Program server = cache_server({"-vv"});
  Client c = server.connect();
  const std::string replies = "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\nDELETED\r\nERROR\r\nHD s1\r\nMN\r\n";
  CHECK(c.roundtrip("set k 0 0 1\r\nx\r\nget k nope\r\ndelete k\r\nset n 0 0 1 noreply\r\n5\r\n"
                    "bogus\r\nmg n s\r\nmn\r\n",
                    replies.size()) == replies);
  REQUIRE(server.logged(" MN\n"));
  // The connection's lines only: the main thread's own lines at -v (listening on ...) may
  // come between them.
  std::string log;
  const std::string err = server.err();
  for (std::size_t at = 0, end; at < err.size(); at = end + 1) {
    end = err.find('\n', at);
    if (end == std::string::npos) end = err.size();
    if (err[at] == '<' || err[at] == '>') log += err.substr(at, end - at) + "\n";
  }
  // The connection's number, from its first command line "<N set k 0 0 1".
  const std::size_t first = log.find(" set k 0 0 1\n");
  REQUIRE(first != std::string::npos);
  const std::size_t open = log.rfind('<', first);
  REQUIRE(open != std::string::npos);
  const std::string n = log.substr(open + 1, first - open - 1);
  const std::string expected = "<" + n + " set k 0 0 1\n>" + n + " STORED\n<" + n + " get k nope\n>" + n +
                               " sending key k\n>" + n + " END\n<" + n + " delete k\n>" + n + " DELETED\n<" + n +
                               " set n 0 0 1 noreply\n>" + n + " NOREPLY STORED\n<" + n + " bogus\n>" + n +
                               " ERROR\n<" + n + " mg n s\n<" + n + " mn\n>" + n + " MN\n";
  CAPTURE(log);
  CHECK(log.find(expected) != std::string::npos);
}

TEST_CASE("cache_server -M refuses what needs memory, evicts nothing and swallows the value", "[cache_server]") {
  Program server = cache_server({"-M", "-m", "2"});
  Client c = server.connect();
  const std::string value(100000, 'x');
  const std::vector<std::string> replies = fill(c, value);
  REQUIRE(replies.size() > 1);
  CHECK(replies.back() == "SERVER_ERROR out of memory storing object\r\n");
  // The refused value was swallowed: the next command on the connection is read as one.
  CHECK(serves(c));
  // Nothing was evicted: the first value is still there.
  c.send_all("get k0\r\n");
  CHECK(read_until(c, "END\r\n").size() == 19 + value.size() + 2 + 5);
  const std::string meta = "SERVER_ERROR out of memory storing object\r\n";
  CHECK(c.roundtrip("ms mk " + std::to_string(value.size()) + " q\r\n" + value + "\r\nmn\r\n", meta.size() + 4) ==
        meta + "MN\r\n");
  const std::string s = stats(c);
  CHECK(stat_value(s, "evictions") == "0");
  CHECK(std::atoi(stat_value(s, "store_no_memory").c_str()) >= 2);
  CHECK(stat_value(s, "curr_items") == std::to_string(replies.size() - 1));
  CHECK(stat_value(stats(c, "settings"), "evictions") == "off");
  // Binary: memcached's ENOMEM with its text.
  Client b = server.connect();
  const std::string text = "Out of memory allocating item";
  const std::string reply = b.roundtrip(binary_set("bk", value), 24 + text.size());
  REQUIRE(reply.size() == 24 + text.size());
  CHECK(static_cast<unsigned char>(reply[0]) == 0x81);
  CHECK(static_cast<unsigned char>(reply[7]) == 0x82);  // status ENOMEM
  CHECK(reply.substr(24) == text);
}

TEST_CASE("cache_server without -M evicts to make room", "[cache_server]") {
  Program server = cache_server({"-m", "2"});
  Client c = server.connect();
  const std::vector<std::string> replies = fill(c, std::string(100000, 'x'));
  CHECK(replies.size() == 60);
  CHECK(replies.back() == "STORED\r\n");
  CHECK(std::atoi(stat_value(stats(c), "evictions").c_str()) > 0);
  CHECK(stat_value(stats(c, "settings"), "evictions") == "on");
}

TEST_CASE("a store without evictions refuses what needs memory and keeps every live item", "[store]") {
  using connkit::cache::StoreResult;
  // Not "k" + std::to_string(i): g++ 12 flags that with a false -Wrestrict at -O3.
  const auto key = [](char prefix, int i) {
    std::string k(1, prefix);
    k += std::to_string(i);
    return k;
  };
  connkit::cache::StoreOptions options;
  options.memory_limit = 1u << 20;
  options.item_size_max = 256u << 10;
  options.evictions = false;
  connkit::cache::Store store(options);
  const std::string value(100000, 'v');
  int stored = 0;
  while (stored < 100 && store.set(key('k', stored), value) == StoreResult::stored) ++stored;
  REQUIRE(stored < 100);
  CHECK(store.set("again", value) == StoreResult::no_memory);
  CHECK(store.stats().evictions == 0);
  CHECK(store.stats().curr_items == static_cast<std::uint64_t>(stored));
  for (int i = 0; i < stored; ++i) CHECK(store.get(key('k', i)));
  // Expired items still make room, as memcached's -M reclaims them.
  std::int64_t now = 1'000'000;
  options.clock = [&now] { return now; };
  connkit::cache::Store timed(options);
  for (int i = 0; i < 100 && timed.set(key('t', i), value, 0, 10) == StoreResult::stored;) ++i;
  now += 11;
  CHECK(timed.set("fresh", value) == StoreResult::stored);
  CHECK(timed.stats().evictions == 0);
  CHECK(timed.stats().reclaimed >= 1);
}

TEST_CASE("cache_server -r raises the core file limit", "[cache_server]") {
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_CORE, &before) == 0);
  rlimit off = before;
  off.rlim_cur = 0;  // the child starts with cores off, whatever the test runner has
  REQUIRE(::setrlimit(RLIMIT_CORE, &off) == 0);
  std::optional<Program> plain;
  std::optional<Program> raised;
  plain.emplace(CONNKIT_CACHE_SERVER, std::vector<std::string>{});
  raised.emplace(CONNKIT_CACHE_SERVER, std::vector<std::string>{"-r"});
  ::setrlimit(RLIMIT_CORE, &before);
  plain->connect();
  raised->connect();
  std::istringstream plain_line(proc_line(plain->process.pid(), "limits", "Max core file size").substr(26));
  std::istringstream raised_line(proc_line(raised->process.pid(), "limits", "Max core file size").substr(26));
  std::string plain_soft, plain_hard, raised_soft, raised_hard;
  plain_line >> plain_soft >> plain_hard;
  raised_line >> raised_soft >> raised_hard;
  CHECK(plain_soft == "0");
  CHECK(raised_soft != "0");
  CHECK(raised_soft == raised_hard);  // unlimited, or the hard limit where that is as far as it goes
  CHECK(raised->err().empty());
}

TEST_CASE("cache_server -k locks its memory or warns as memcached does and serves on", "[cache_server]") {
  Program server = cache_server({"-k"});
  Client c = server.connect();
  CHECK(serves(c));
  std::istringstream locked(proc_line(server.process.pid(), "status", "VmLck:").substr(6));
  long kilobytes = 0;
  locked >> kilobytes;
  const std::string err = server.err();
  if (err.empty()) {
#if !defined(__SANITIZE_ADDRESS__)  // ASan's mlockall() interceptor does nothing and returns 0
    CHECK(kilobytes > 0);
#endif
  } else {
    CHECK(err.rfind("warning: -k invalid, mlockall() failed: ", 0) == 0);
  }
}

TEST_CASE("cache_server -i prints the license statement, and flags with no meaning here speak only at -v",
          "[cache_server]") {
  {
    Program license = cache_server({"-i"});
    CHECK(license.process.wait_exit() == 0);
    const std::string out = license.out();
    CHECK(out.rfind(connkit::examples::cache_server_version_line() + "\n\n", 0) == 0);
    CHECK(out.find("Boost Software License") != std::string::npos);
  }
  const std::string memory_file = unique_path("memory-file");
  {
    Program quiet = cache_server({"-L", "-e", memory_file, "-N", "1"});
    Client c = quiet.connect();
    CHECK(serves(c));
    REQUIRE(::kill(quiet.process.pid(), SIGTERM) == 0);
    CHECK(quiet.process.wait_exit() == 0);
    CHECK(quiet.err().empty());
  }
  Program verbose = cache_server({"-v", "-L", "-e", memory_file, "-N", "1"});
  verbose.connect();
  for (const char* flag : {"-L", "-e", "-N"}) {
    CAPTURE(flag);
    CHECK(verbose.logged(std::string("ignoring memcached tuning option '") + flag + "'"));
  }
  CHECK_FALSE(exists(memory_file));  // nothing was made of it
}

TEST_CASE("cache_server gives memcached's replies for -M refusals and shutdown", "[cache_server]") {
  if (::access(memcached_path, X_OK) != 0) {
    WARN("no " << memcached_path << ": the differential part is skipped");
    return;
  }
  const auto replies = [](const char* path) {
    std::vector<std::string> out;
    {
      Program server(path, {"-M", "-m", "2"});
      Client c = server.connect();
      const std::string value(100000, 'x');
      const std::vector<std::string> filled = fill(c, value);
      out.push_back(filled.back());
      c.send_all("ms mk " + std::to_string(value.size()) + "\r\n" + value + "\r\nget k0 nope\r\n");
      out.push_back(read_until(c, "END\r\n").substr(0, 60));
      Client b = server.connect();
      const std::string reply = b.roundtrip(binary_set("bk", value), 24 + 29);
      out.push_back(reply.substr(0, 8) + reply.substr(24));  // not the CAS or body length: equal anyway
      out.push_back(c.roundtrip("shutdown\r\n", 29));
    }
    {
      Program server(path, {"-A"});
      Client c = server.connect();
      const std::string refusal = "CLIENT_ERROR invalid shutdown mode\r\n";
      out.push_back(c.roundtrip("shutdown please\r\n", refusal.size()));
      REQUIRE(c.send_all("shutdown graceful\r\n"));
      std::string rest;
      c.read_to_eof(rest);
      out.push_back(rest);
      out.push_back(std::to_string(server.process.wait_exit(10s)));
      out.push_back(server.err());
    }
    return out;
  };
  CHECK(replies(CONNKIT_CACHE_SERVER) == replies(memcached_path));
}
