// Running out of file descriptors: the acceptor pauses with a back-off, never spins, and
// resumes. The server runs in a child process with a low RLIMIT_NOFILE.
#include <connkit/server.hpp>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/client.hpp"
#include "support/line_server.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using namespace std::chrono_literals;

namespace {

struct ChildStats {
  std::uint64_t listen_disabled_num;
  std::uint64_t curr_conns;
  std::uint64_t accepting;
};

// The lowest descriptor limit that leaves exactly `free` numbers unused. A test runner may
// pass descriptors down (any number, any numbers), and the server must get the same few
// free slots however many there are.
rlim_t limit_leaving(rlim_t free) {
  std::vector<rlim_t> open;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    open.push_back(static_cast<rlim_t>(std::stoul(entry.path().filename().string())));
  }
  std::sort(open.begin(), open.end());  // includes the iterator's own, closed by now: one spare
  rlim_t limit = 0;
  for (std::size_t used = 0; limit - used < free; ++limit) {
    if (used < open.size() && open[used] == limit) ++used;
  }
  return limit;
}

[[noreturn]] void run_child(int commands, int replies) try {
  const rlim_t limit = limit_leaving(43);  // far fewer than the 80 clients below
  const rlimit low{limit, limit};
  if (::setrlimit(RLIMIT_NOFILE, &low) != 0) ::_exit(2);
  {
    connkit::Server server(connkit::test::line_options(1));
    boost::system::error_code ec;
    server.start(ec);
    if (ec) ::_exit(3);
    const std::uint16_t port = server.port();
    if (::write(replies, &port, sizeof port) != sizeof port) ::_exit(4);
    char command = 0;
    while (::read(commands, &command, 1) == 1 && command == 's') {
      const auto s = server.stats();
      const ChildStats out{s.total.listen_disabled_num, s.total.curr_conns, s.accepting_conns ? 1u : 0u};
      if (::write(replies, &out, sizeof out) != sizeof out) ::_exit(5);
    }
    server.stop();
    server.join();
  }
  ::_exit(0);
} catch (...) {
  ::_exit(6);  // never unwind into the test framework in the forked child
}

}  // namespace

TEST_CASE("EMFILE pauses accepting with a back-off, without spinning, and accepting resumes", "[loopback][emfile]") {
  // A child that dies must fail the test, not kill it with SIGPIPE on the next write.
  struct IgnoreSigpipe {
    IgnoreSigpipe() { previous = ::signal(SIGPIPE, SIG_IGN); }
    ~IgnoreSigpipe() { ::signal(SIGPIPE, previous); }
    void (*previous)(int);
  } ignore_sigpipe;
  int to_child[2];
  int from_child[2];
  REQUIRE(::pipe(to_child) == 0);
  REQUIRE(::pipe(from_child) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    run_child(to_child[0], from_child[1]);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  auto stats = [&] {
    ChildStats s{};
    const char cmd = 's';
    REQUIRE(::write(to_child[1], &cmd, 1) == 1);
    REQUIRE(::read(from_child[0], &s, sizeof s) == sizeof s);
    return s;
  };
  std::uint16_t port = 0;
  REQUIRE(::read(from_child[0], &port, sizeof port) == sizeof port);

  std::vector<Client> clients;
  for (int i = 0; i < 80; ++i) clients.push_back(Client::tcp(port));
  REQUIRE(eventually([&] { return stats().listen_disabled_num >= 1; }));
  CHECK(eventually([&] { return stats().accepting == 0; }));  // paused, between retries

  // Out of descriptors for a whole second: a busy loop would count thousands of pauses.
  const auto first = stats().listen_disabled_num;
  const auto since = std::chrono::steady_clock::now();
  eventually([&] { return std::chrono::steady_clock::now() - since >= 1000ms; }, 2000ms);
  const auto later = stats().listen_disabled_num;
  CHECK(later - first <= 20);

  clients.clear();
  REQUIRE(eventually([&] { return stats().curr_conns == 0; }, 10000ms));
  Client fresh = Client::tcp(port);
  CHECK(fresh.roundtrip("PING\r\n", 6) == "PONG\r\n");

  ::close(to_child[1]);  // the child stops on EOF
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  ::close(from_child[0]);
}
