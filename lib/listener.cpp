#include "listener.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <connkit/error.hpp>

#include "log_line.hpp"
#include "server_impl.hpp"
#include "worker.hpp"

namespace connkit::detail {
namespace {

boost::system::error_code last_error() noexcept {
  return {errno, boost::system::system_category()};
}

int fail(int fd, boost::system::error_code& ec) noexcept {
  ec = last_error();
  if (fd >= 0) ::close(fd);
  return -1;
}

void set_flag(int fd, int level, int name) noexcept {
  const int on = 1;
  (void)::setsockopt(fd, level, name, &on, sizeof on);
}

// ListenerOptions' socket options; 0 (or false) leaves the kernel's default. Linux copies
// all of them from a TCP listener to each socket it accepts (the whole tcp_sock is cloned:
// TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE / KEEPINTVL / KEEPCNT, SO_RCVBUF, SO_SNDBUF, as
// getsockopt on accepted sockets shows, tests/connection_control_test.cpp), so they are set
// once, on the listener, and SO_RCVBUF before listen(): the window scale a SYN-ACK offers is
// chosen from it. A UNIX stream socket accepted inherits none of them (unix_stream_connect
// makes a fresh socket): its buffer sizes are set on each one (Acceptor::handle).
bool set_int(int fd, int level, int name, int value) noexcept {
  return value == 0 || ::setsockopt(fd, level, name, &value, sizeof value) == 0;
}

bool set_buffer_sizes(int fd, const ListenerOptions& o) noexcept {
  return set_int(fd, SOL_SOCKET, SO_RCVBUF, o.receive_buffer) && set_int(fd, SOL_SOCKET, SO_SNDBUF, o.send_buffer);
}

bool set_tcp_options(int fd, const ListenerOptions& o) noexcept {
  // Keep-alive times are validated by Server::start (Linux caps them at 32767 s and 127 probes).
  return set_int(fd, IPPROTO_TCP, TCP_NODELAY, o.tcp_nodelay ? 1 : 0) &&
         (!o.keepalive ||
          (set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1) &&
           set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(o.keepalive_idle.count())) &&
           set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(o.keepalive_interval.count())) &&
           set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, static_cast<int>(o.keepalive_count)))) &&
         set_buffer_sizes(fd, o);
}

int open_unix(const ListenerOptions& o, boost::system::error_code& ec) {
  sockaddr_un addr{};
  if (o.path.empty() || o.path.size() >= sizeof(addr.sun_path)) {
    ec = make_error_code(errc::invalid_option);
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, o.path.c_str(), o.path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(fd, ec);
  // A stale socket file from an earlier run would make bind fail; anything else is left alone.
  struct stat st {};
  if (::lstat(o.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(o.path.c_str());
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return fail(fd, ec);
  if (::chmod(o.path.c_str(), static_cast<mode_t>(o.unix_mode & 07777)) != 0) return fail(fd, ec);
  if (::listen(fd, o.backlog) != 0) return fail(fd, ec);
  return fd;
}

bool is_wildcard(const sockaddr& a) noexcept {
  if (a.sa_family == AF_INET) return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr == htonl(INADDR_ANY);
  if (a.sa_family == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr);
  return false;
}

std::uint16_t port_of(int fd) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

}  // namespace

int ListenSocket::open(const ListenerOptions& o, std::uint16_t port_override, boost::system::error_code& ec,
                       std::uint16_t& bound_port) {
  bound_port = 0;
  if (o.transport == Transport::unix_stream) return open_unix(o, ec);

  const bool udp = o.transport == Transport::udp;
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  const std::string service = std::to_string(port_override != 0 ? port_override : o.port);
  addrinfo* found = nullptr;
  if (::getaddrinfo(o.host.empty() ? nullptr : o.host.c_str(), service.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    ec = boost::asio::error::host_not_found;
    return -1;
  }
  const addrinfo& ai = *found;
  const int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return fail(fd, ec);
  }
  if (ai.ai_family == AF_INET6) set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY);  // "::" and "0.0.0.0" can both bind
  if (udp) {
    // No SO_REUSEADDR (memcached sets it): on a UDP socket it lets a second server bind
    // the same port and take part of the requests; here its bind fails instead. On a
    // wildcard address, ask for each datagram's destination, the reply's source.
    if (is_wildcard(*ai.ai_addr)) {
      set_flag(fd, ai.ai_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
               ai.ai_family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO);
    }
    if (!set_buffer_sizes(fd, o)) {
      ::freeaddrinfo(found);
      return fail(fd, ec);
    }
  } else {
    set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
    if (o.reuse_port) set_flag(fd, SOL_SOCKET, SO_REUSEPORT);
    if (!set_tcp_options(fd, o)) {  // accepted sockets inherit them
      ::freeaddrinfo(found);
      return fail(fd, ec);
    }
  }
  const int bound = ::bind(fd, ai.ai_addr, ai.ai_addrlen);
  ::freeaddrinfo(found);
  if (bound != 0) return fail(fd, ec);
  if (!udp && ::listen(fd, o.backlog) != 0) return fail(fd, ec);
  bound_port = port_of(fd);
  return fd;
}

Acceptor::Acceptor(ServerImpl& server, unsigned listener, boost::asio::io_context& io, int fd, Worker* own_worker,
                   Counters& counters)
    : server_(server),
      listener_(listener),
      socket_(io),
      backoff_timer_(io),
      own_worker_(own_worker),
      counters_(counters) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  boost::system::error_code ec;
  socket_.assign(boost::asio::generic::stream_protocol(ss.ss_family, 0), fd, ec);
  fd_.store(fd, std::memory_order_relaxed);
  if (ec) {
    ::close(fd);
    throw boost::system::system_error(ec, "register listening socket");
  }
}

void Acceptor::start() {
  logf(server_.logger(), 2, "<%d server listening (%s)", socket_.native_handle(),
               server_.options().listeners[listener_].name.c_str());
  do_accept();
}

void Acceptor::close() {
  backoff_timer_.cancel();
  fd_.store(-1, std::memory_order_relaxed);
  boost::system::error_code ignored;
  socket_.close(ignored);
  const ListenerOptions& o = server_.options().listeners[listener_];
  if (o.transport == Transport::unix_stream) ::unlink(o.path.c_str());
}

void Acceptor::do_accept() {
  socket_.async_wait(boost::asio::socket_base::wait_read,
                     [this](const boost::system::error_code& ec) { on_readable(ec); });
}

void Acceptor::on_readable(const boost::system::error_code& ec) {
  if (ec || !socket_.is_open()) return;  // closed by stop()
  // Bounded per wake-up so one busy listener cannot starve the others on this thread.
  for (int i = 0; i < 64; ++i) {
    const int fd = ::accept4(socket_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      backoff_ = std::chrono::milliseconds(0);
      handle(fd);
      continue;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {  // out of descriptors or memory
      pause();
      return;
    }
    logf(server_.logger(), 1, "accept(): %s", std::strerror(err));
    break;
  }
  do_accept();
}

void Acceptor::pause() {
  // memcached's accept_new_conns(false): stop accepting for a while rather than spin on
  // EMFILE. The timer doubles from 10 ms to 320 ms while the condition lasts.
  backoff_ = std::min(std::max(backoff_ * 2, std::chrono::milliseconds(10)), std::chrono::milliseconds(320));
  counters_[&ConnectionStats::listen_disabled_num].add();
  paused_since_ = std::chrono::steady_clock::now();
  paused_.store(true, std::memory_order_relaxed);
  logf(server_.logger(), 1, "Too many open connections; accept paused for %lld ms", static_cast<long long>(backoff_.count()));
  backoff_timer_.expires_after(backoff_);
  backoff_timer_.async_wait([this](const boost::system::error_code& ec) {
    const auto waited = std::chrono::steady_clock::now() - paused_since_;
    counters_[&ConnectionStats::time_in_listen_disabled_us].add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(waited).count()));
    paused_.store(false, std::memory_order_relaxed);
    if (!ec) on_readable({});
  });
}

void Acceptor::handle(int fd) {
  const ServerOptions& opts = server_.options();
  // Reserve a slot atomically: SO_REUSEPORT acceptors on several threads check at once.
  std::size_t live = server_.live().load(std::memory_order_relaxed);
  bool admitted = false;
  while (live < opts.max_connections) {
    if (server_.live().compare_exchange_weak(live, live + 1, std::memory_order_relaxed)) {
      admitted = true;
      break;
    }
  }
  if (!admitted) {
    // Counted before the client can see the reply: a client that reads the line and then
    // asks for stats must find itself counted.
    counters_[&ConnectionStats::rejected_conns].add();
    const std::string& msg = opts.listeners[listener_].reject_message;
    (void)::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    logf(server_.logger(), 2, "<%d rejected: too many open connections", fd);
    return;
  }
  const ListenerOptions& o = opts.listeners[listener_];
  if (o.transport == Transport::unix_stream) (void)set_buffer_sizes(fd, o);  // not inherited
  Worker& worker = own_worker_ != nullptr ? *own_worker_ : server_.next_worker();
  if (&worker.io() == &socket_.get_executor().context()) {
    worker.adopt(fd, listener_);  // same thread (host io_context or SO_REUSEPORT): no hand-off
    return;
  }
  try {
    const unsigned listener = listener_;
    worker.post([&worker, fd, listener] { worker.adopt(fd, listener); });
  } catch (...) {
    ::close(fd);
    server_.live().fetch_sub(1, std::memory_order_relaxed);
    counters_[&ConnectionStats::malloc_fails].add();
  }
}

}  // namespace connkit::detail
