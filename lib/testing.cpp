// connkit::testing::HandlerHarness: one real ConnectionEngine on a real Worker of a server
// that is never started, its socket one end of a socketpair, everything run by
// io_context::poll() on the caller's thread (the Poller's watched mode).

#include <connkit/testing.hpp>

#include <utility>  // before Asio (Boost 1.74)

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include "connection_engine.hpp"
#include "server_impl.hpp"
#include "worker.hpp"

namespace connkit::testing {
namespace {

ServerOptions harness_options(HandlerFactory factory, ServerOptions options) {
  if (!factory) throw std::invalid_argument("HandlerHarness: no handler factory");
  ListenerOptions listener;
  listener.transport = Transport::unix_stream;
  listener.name = "harness";
  listener.handler = std::move(factory);
  listener.require_auth = !options.listeners.empty() && options.listeners.front().require_auth;
  options.listeners.clear();
  options.listeners.push_back(std::move(listener));
  options.threads = 1;
  return options;
}

}  // namespace

struct HandlerHarness::Impl {
  Impl(HandlerFactory factory, ServerOptions options)
      : server(harness_options(std::move(factory), std::move(options)), &io), worker(server, 0, io, false) {}

  // Runs ready handlers and reads replies until neither makes progress: everything here is
  // local and synchronous (a socketpair), so that is the state machine waiting for input.
  void run_until_idle() {
    for (;;) {
      if (io.stopped()) io.restart();
      const std::size_t ran = io.poll();
      const bool got = read_replies();
      if (ran == 0 && !got) return;
    }
  }

  bool read_replies() {
    bool got = false;
    char buffer[16384];
    while (!peer_closed) {
      const ssize_t n = ::recv(client, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        output.append(buffer, static_cast<std::size_t>(n));
        got = true;
      } else if (n == 0) {
        peer_closed = true;
        got = true;
      } else if (errno == EINTR) {
        continue;
      } else {
        if (errno != EAGAIN && errno != EWOULDBLOCK) peer_closed = true;  // ECONNRESET: closed too
        break;
      }
    }
    return got;
  }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(client, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        run_until_idle();  // the connection reads (or replies) and makes room
        if (peer_closed) return;
      } else {
        return;  // the connection closed: what is left can never be read
      }
    }
  }

  boost::asio::io_context io{1};  // first: destroyed after everything that uses it
  detail::ServerImpl server;
  detail::Worker worker;
  detail::ConnectionEngine* conn = nullptr;
  int client = -1;
  bool peer_closed = false;
  std::string output;
};

HandlerHarness::HandlerHarness(HandlerFactory factory, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(factory), std::move(options))) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    throw boost::system::system_error(errno, boost::system::system_category(), "socketpair");
  }
  impl_->client = fds[1];
  impl_->worker.start();
  impl_->server.live().fetch_add(1, std::memory_order_relaxed);  // as the acceptor counts it
  impl_->conn = impl_->worker.adopt(fds[0], 0);
  if (impl_->conn == nullptr) {
    ::close(impl_->client);
    throw std::runtime_error("HandlerHarness: the connection was refused (see the log)");
  }
  impl_->run_until_idle();
}

HandlerHarness::~HandlerHarness() {
  // The connection reads EOF and closes; the drain then stops the worker's timers and the
  // Poller's watch, whose handlers run here, before anything they point at is destroyed.
  ::close(impl_->client);
  impl_->worker.begin_drain();
  const auto deadline = std::chrono::steady_clock::now() + impl_->server.options().stop_timeout + std::chrono::seconds(1);
  while (!impl_->worker.finished() && std::chrono::steady_clock::now() < deadline) {
    if (impl_->io.stopped()) impl_->io.restart();
    impl_->io.run_one_for(std::chrono::milliseconds(10));
  }
  if (impl_->io.stopped()) impl_->io.restart();
  impl_->io.poll();
}

std::string HandlerHarness::exchange(std::string_view input, std::size_t fragment) {
  fragment = std::max<std::size_t>(fragment, 1);
  while (!input.empty() && !impl_->peer_closed) {
    const std::size_t n = std::min(fragment, input.size());
    impl_->send_all(input.substr(0, n));
    input.remove_prefix(n);
    impl_->run_until_idle();
  }
  impl_->run_until_idle();
  return take_output();
}

std::string HandlerHarness::take_output() {
  impl_->read_replies();
  return std::exchange(impl_->output, std::string());
}

void HandlerHarness::shutdown_input() {
  ::shutdown(impl_->client, SHUT_WR);
  impl_->run_until_idle();
}

bool HandlerHarness::closed() const noexcept { return impl_->peer_closed; }

ConnState HandlerHarness::state() const noexcept {
  return impl_->conn->listed_fd() < 0 ? ConnState::closing : impl_->conn->state();
}

ProtocolHandler& HandlerHarness::handler() noexcept { return impl_->conn->handler(); }

ConnectionStats HandlerHarness::stats() const { return impl_->worker.counters().snapshot(); }

}  // namespace connkit::testing
