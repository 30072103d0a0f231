#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace connkit::test {

using namespace std::chrono_literals;

/// A blocking loopback client whose every wait has a deadline: a test fails, never hangs.
/// Uses raw system calls and caller-supplied buffers, so it allocates nothing itself.
class Client {
 public:
  Client() = default;
  explicit Client(int fd) : fd_(fd) {}
  Client(Client&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Client& operator=(Client&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Client() { close(); }

  /// Connects to 127.0.0.1:port (or another numeric address); throws on failure.
  static Client tcp(std::uint16_t port, const char* host = "127.0.0.1", int rcvbuf = 0) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (std::strchr(host, ':') != nullptr) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      if (::inet_pton(AF_INET6, host, &a->sin6_addr) != 1) throw std::runtime_error("bad address");
      len = sizeof *a;
      family = AF_INET6;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      if (::inet_pton(AF_INET, host, &a->sin_addr) != 1) throw std::runtime_error("bad address");
      len = sizeof *a;
    }
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    Client c(fd);
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
    }
    return c;
  }

  /// Connects to a UNIX stream socket; throws on failure.
  static Client unix_stream(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Client c(fd);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
    }
    return c;
  }

  int fd() const noexcept { return fd_; }

  /// Sends everything (blocking); false on error.
  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Receives exactly out.size() bytes into caller memory before `limit`; false on EOF,
  /// error or time-out (then `got` says how many arrived).
  bool recv_exact(char* out, std::size_t size, std::size_t& got, std::chrono::milliseconds limit = 5000ms) {
    got = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (got < size) {
      if (!wait_readable(deadline)) return false;
      const ssize_t n = ::recv(fd_, out + got, size - got, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// Receives exactly n bytes as a string (empty-handed on failure: compare the result).
  std::string recv_n(std::size_t n, std::chrono::milliseconds limit = 5000ms) {
    std::string s(n, '\0');
    std::size_t got = 0;
    recv_exact(s.data(), n, got, limit);
    s.resize(got);
    return s;
  }

  /// Reads until the peer closes cleanly (true), or a reset, error or the deadline (false).
  bool read_to_eof(std::string& out, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[65536];
    for (;;) {
      if (!wait_readable(deadline)) return false;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      if (n == 0) return true;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

  /// Waits for the server to close the connection, by EOF or reset, with nothing else
  /// arriving first; false on data, time-out or another error.
  bool wait_closed(std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char byte;
    for (;;) {
      if (!wait_readable(deadline)) return false;
      const ssize_t n = ::recv(fd_, &byte, 1, 0);
      if (n < 0 && errno == EINTR) continue;
      return n == 0 || (n < 0 && errno == ECONNRESET);
    }
  }

  /// Sends a request and returns exactly `reply_size` bytes of reply.
  std::string roundtrip(std::string_view request, std::size_t reply_size) {
    if (!send_all(request)) return "<send failed>";
    return recv_n(reply_size);
  }

  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool wait_readable(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
  }

  int fd_ = -1;
};

/// Polls `done()` until it holds or `limit` passes; returns whether it held. Polling a
/// condition with a deadline, not sleeping to win a race.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (unsigned spins = 0; !done(); ++spins) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (spins < 2000) {
      std::this_thread::yield();  // most conditions hold within microseconds
    } else {
      std::this_thread::sleep_for(1ms);
    }
  }
  return true;
}

/// A connection to 127.0.0.1:`port`, retried until something listens there (a server
/// process just started); throws if nothing does within eventually()'s limit.
inline Client tcp_when_ready(std::uint16_t port) {
  std::optional<Client> c;
  eventually([&] {
    try {
      c.emplace(Client::tcp(port));
      return true;
    } catch (const std::exception&) {
      return false;
    }
  });
  if (!c) throw std::runtime_error("nothing listens on port " + std::to_string(port));
  return std::move(*c);
}

}  // namespace connkit::test
