// cache_server run as a program: -B and -l proto[...]: choose each listener's protocol,
// negotiating by default, with memcached's -vv lines on stderr. No Server in this process:
// the tests talk to the child over loopback sockets and read its stderr from a file.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"
#include "support/client.hpp"

using connkit::test::ChildProcess;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::free_port;
using namespace std::chrono_literals;

namespace {

/// A binary protocol `version` request: magic 0x80, opcode 0x0b, the rest of the 24-byte
/// header zero.
const std::string binary_version = [] {
  std::string h(24, '\0');
  h[0] = static_cast<char>(0x80);
  h[1] = 0x0b;
  return h;
}();

/// cache_server with `args` (plus -U 0 and, as root, -u root), its stderr kept in a file.
struct CacheServer {
  explicit CacheServer(std::vector<std::string> args)
      : log_path("cache_server_protocol_" + std::to_string(::getpid()) + "_" + std::to_string(++runs) + ".log"),
        process(argv(std::move(args)), log_path) {}
  ~CacheServer() { std::remove(log_path.c_str()); }

  static std::vector<std::string> argv(std::vector<std::string> args) {
    args.insert(args.begin(), CONNKIT_CACHE_SERVER);
    args.insert(args.end(), {"-U", "0"});
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "root"});
    return args;
  }
  std::string log() const {
    std::ifstream in(log_path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  bool logged(const std::string& text) const {
    return eventually([&] { return log().find(text) != std::string::npos; });
  }
  /// The fd N of "<N new auto-negotiating client connection" lines, in order.
  std::vector<int> negotiating_fds() const {
    std::vector<int> fds;
    std::istringstream lines(log());
    for (std::string line; std::getline(lines, line);) {
      int fd = -1;
      int end = 0;
      if (std::sscanf(line.c_str(), "<%d new auto-negotiating client connection%n", &fd, &end) == 1 &&
          static_cast<std::size_t>(end) == line.size()) {
        fds.push_back(fd);
      }
    }
    return fds;
  }

  static inline int runs = 0;
  std::string log_path;
  ChildProcess process;
};

/// A connection, retried until the server listens (it was just started).
template <class Connect>
Client connect_when_ready(Connect connect) {
  std::optional<Client> c;
  eventually([&] {
    try {
      c.emplace(connect());
      return true;
    } catch (const std::exception&) {
      return false;
    }
  });
  if (!c) throw std::runtime_error("cache_server does not listen");
  return std::move(*c);
}

Client tcp_when_ready(std::uint16_t port) {
  return connect_when_ready([port] { return Client::tcp(port); });
}

const std::string version_reply = "VERSION 1.6.18-connkit\r\n";

/// A binary request reached the binary handler, not the text one: the binary placeholder
/// closes without a byte; the binary protocol answers with a 0x81 response. (The text
/// handler would answer ERROR or close after logging at -v, never with 0x81.)
bool answered_by_binary(Client& c) {
  if (!c.send_all(binary_version)) return false;
  pollfd p{c.fd(), POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0) return false;  // no answer and no close: a handler still waits
  char first = 0;
  const ssize_t n = ::recv(c.fd(), &first, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET) || (n == 1 && static_cast<unsigned char>(first) == 0x81);
}

}  // namespace

TEST_CASE("cache_server negotiates on every listener by default, with memcached's -vv lines", "[cache_server]") {
  const std::uint16_t port = free_port();
  CacheServer server({"-l", "127.0.0.1", "-p", std::to_string(port), "-t", "1", "-vv"});
  Client text = tcp_when_ready(port);
  CHECK(text.roundtrip("version\r\n", version_reply.size()) == version_reply);
  CHECK(server.logged(" server listening (auto-negotiate)"));
  CHECK(server.logged(": Client using the ascii protocol"));

  Client binary = Client::tcp(port);
  CHECK(answered_by_binary(binary));
  REQUIRE(eventually([&] { return server.negotiating_fds().size() == 2; }));
  const int fd = server.negotiating_fds()[1];
  CHECK(server.logged(std::to_string(fd).append(": Client using the binary protocol")));
  CHECK(server.log().find(" new ascii client connection.") == std::string::npos);
}

TEST_CASE("cache_server -B ascii and -B binary pin every listener, UNIX sockets too", "[cache_server]") {
  const std::uint16_t port = free_port();
  SECTION("-B ascii") {
    CacheServer server({"-B", "ascii", "-l", "127.0.0.1", "-p", std::to_string(port), "-t", "1", "-vv"});
    Client text = tcp_when_ready(port);
    CHECK(text.roundtrip("version\r\n", version_reply.size()) == version_reply);
    CHECK(server.logged(" server listening (ascii)"));
    CHECK(server.logged(" new ascii client connection."));
    CHECK(server.log().find("auto-negotiat") == std::string::npos);
    CHECK(server.log().find("Client using the") == std::string::npos);
  }
  SECTION("-B binary") {
    CacheServer server({"-B", "binary", "-l", "127.0.0.1", "-p", std::to_string(port), "-t", "1", "-vv"});
    Client text = tcp_when_ready(port);
    REQUIRE(text.send_all("version\r\n"));
    CHECK(text.wait_closed());  // not the binary magic: memcached's binary-only listener closes too
    CHECK(server.logged(" server listening (binary)"));
    CHECK(server.logged(" new binary client connection."));
    Client binary = Client::tcp(port);
    CHECK(answered_by_binary(binary));
    CHECK(server.log().find("auto-negotiat") == std::string::npos);
  }
  SECTION("-s with -B binary") {
    const std::string path = "/tmp/connkit-cache-protocol-" + std::to_string(::getpid()) + ".sock";
    CacheServer server({"-s", path, "-B", "binary", "-t", "1", "-vv"});
    Client text = connect_when_ready([&] { return Client::unix_stream(path); });
    REQUIRE(text.send_all("version\r\n"));
    CHECK(text.wait_closed());
    CHECK(server.logged(" server listening (binary)"));
    CHECK(server.logged(" new binary client connection."));
  }
  SECTION("-s negotiates by default") {
    const std::string path = "/tmp/connkit-cache-protocol-" + std::to_string(::getpid()) + ".sock";
    CacheServer server({"-s", path, "-t", "1", "-vv"});
    Client text = connect_when_ready([&] { return Client::unix_stream(path); });
    CHECK(text.roundtrip("version\r\n", version_reply.size()) == version_reply);
    Client binary = Client::unix_stream(path);
    CHECK(answered_by_binary(binary));
    CHECK(server.logged(" server listening (auto-negotiate)"));
    CHECK(server.logged(": Client using the binary protocol"));
  }
}

TEST_CASE("cache_server -l with the ascii proto prefix pins one listener beside negotiating ones", "[cache_server]") {
  const std::uint16_t pinned = free_port();
  const std::uint16_t negotiating = free_port();
  CacheServer server({"-l", "proto[ascii]:127.0.0.1:" + std::to_string(pinned) + ",127.0.0.1:" +
                                std::to_string(negotiating),
                      "-t", "1", "-vv"});
  Client a = tcp_when_ready(pinned);
  CHECK(a.roundtrip("version\r\n", version_reply.size()) == version_reply);
  Client n = tcp_when_ready(negotiating);
  CHECK(n.roundtrip("version\r\n", version_reply.size()) == version_reply);
  CHECK(server.logged(" server listening (ascii)"));
  CHECK(server.logged(" server listening (auto-negotiate)"));
  CHECK(server.logged(" new ascii client connection."));
  CHECK(server.logged(" new auto-negotiating client connection"));
  Client binary = Client::tcp(negotiating);
  CHECK(answered_by_binary(binary));
  CHECK(server.logged(": Client using the binary protocol"));
}

TEST_CASE("cache_server refuses an unterminated proto prefix and keeps -B for a name it does not know",
          "[cache_server]") {
  const std::uint16_t port = free_port();
  {
    CacheServer server({"-l", "proto[ascii:127.0.0.1:" + std::to_string(port)});
    CHECK(server.process.wait_exit() == 71);  // memcached's EX_OSERR
    CHECK(server.log() == "Invalid protocol spec: \"[ascii:127.0.0.1:" + std::to_string(port) + "\"\n");
  }
  // memcached: an unknown name is no error; the listener keeps -B's protocol.
  CacheServer server({"-l", "proto[asciii]:127.0.0.1:" + std::to_string(port), "-t", "1", "-vv"});
  Client text = tcp_when_ready(port);
  CHECK(text.roundtrip("version\r\n", version_reply.size()) == version_reply);
  CHECK(server.logged(" server listening (auto-negotiate)"));
}
