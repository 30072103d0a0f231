#include <connkit/server.hpp>

#include <cstdarg>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <connkit/error.hpp>

#include "address_text.hpp"
#include "log_line.hpp"
#include "server_impl.hpp"

namespace connkit {
namespace detail {
namespace {

std::string describe(const ListenerOptions& o) {
  switch (o.transport) {
    case Transport::unix_stream: return "unix:" + o.path;
    case Transport::udp: return "udp " + o.host + ":" + std::to_string(o.port);
    case Transport::tcp: break;
  }
  return o.host + ":" + std::to_string(o.port);
}

// Faults attached by testing::inject_faults(), each waiting for its server's start(). A
// test-only path kept here, so that the Server class carries nothing for it.
struct InjectedFaults {
  std::mutex mutex;
  std::vector<std::pair<const Server*, testing::FaultInjection>> pending;

  static InjectedFaults& instance() {
    static InjectedFaults injected;
    return injected;
  }
  /// Removes and returns the faults attached to `server` (empty hooks if none).
  testing::FaultInjection take(const Server* server) {
    std::lock_guard<std::mutex> lock(mutex);
    testing::FaultInjection found;
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (it->first == server) {
        found = std::move(it->second);
        pending.erase(it);
        break;
      }
    }
    return found;
  }
};

void start_with_injected_faults(const Server* server, ServerImpl& impl, boost::system::error_code& ec,
                                std::string& context) {
  impl.set_faults(InjectedFaults::instance().take(server));
  impl.start(ec, context);
}

}  // namespace

ServerImpl::ServerImpl(ServerOptions options, boost::asio::io_context* host)
    : options_(std::move(options)), logger_(options_.log, options_.verbosity), host_(host) {}

ServerImpl::~ServerImpl() {
  stop();
  join();
  // Connections and acceptors close their sockets as the members below are destroyed,
  // before the io_contexts they belong to (declared first).
  acceptors_.clear();
  workers_.clear();
  for (int fd : datagram_fds_) ::close(fd);
}

std::string ServerImpl::invalid_option() const {
  // The first unusable option, named as the caller spells it; empty if all are usable.
  const ServerOptions& o = options_;
  if (o.listeners.empty()) return "listeners (none)";
  if (host_ == nullptr && o.threads < 1) return "threads";
  if (o.max_connections < 1) return "max_connections";
  if (o.reqs_per_event < 1) return "reqs_per_event";
  if (o.read_buffer_size < 64) return "read_buffer_size";
  if (o.read_buffer_limit < o.read_buffer_size) return "read_buffer_limit";
  if (o.output_high_water < 1) return "output_high_water";
  if (o.write_stall_timeout.count() < 0) return "write_stall_timeout";
  for (std::size_t i = 0; i < o.listeners.size(); ++i) {
    const ListenerOptions& l = o.listeners[i];
    const char* bad = !l.handler && !l.binary_handler ? "handler"
        : l.framing && (l.transport != Transport::udp || l.framing->header_size() > max_datagram_header ||
                        l.framing->max_datagram() <= l.framing->header_size() ||
                        l.framing->max_datagram() > max_udp_payload) ? "framing"
        : l.transport == Transport::udp && l.require_auth ? "require_auth"  // a datagram has no session
        : l.backlog < 0 ? "backlog"
        : l.max_deferred < 1 ? "max_deferred"
        : l.receive_buffer < 0 ? "receive_buffer"
        : l.send_buffer < 0 ? "send_buffer"
        // Linux's limits (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
        : l.keepalive_idle.count() < 0 || l.keepalive_idle.count() > 32767 ? "keepalive_idle"
        : l.keepalive_interval.count() < 0 || l.keepalive_interval.count() > 32767 ? "keepalive_interval"
        : l.keepalive_count > 127 ? "keepalive_count"
        : nullptr;
    if (bad != nullptr) return "listeners[" + std::to_string(i) + "]." + bad;
  }
  return {};
}

void ServerImpl::name_listeners() {
  // memcached's prot_text() in "<fd server listening (name)", unless the host chose a name.
  for (ListenerOptions& l : options_.listeners) {
    if (!l.name.empty()) continue;
    if (l.transport == Transport::udp || negotiates(l)) {
      l.name = l.transport == Transport::udp ? "udp" : "auto-negotiate";
      continue;
    }
    // Pinned: a handler's protocol_name() is the only place the name lives, so ask one.
    try {
      const std::unique_ptr<ProtocolHandler> probe = l.handler ? l.handler() : l.binary_handler();
      if (probe != nullptr) l.name = probe->protocol_name();
    } catch (...) {
    }
    if (l.name.empty()) l.name = "custom";
  }
}

void ServerImpl::start(boost::system::error_code& ec, std::string& context) {
  ec.clear();
  if (started_) {
    ec = boost::asio::error::already_started;
    context = "start";
    return;
  }
  if (std::string bad = invalid_option(); !bad.empty()) {
    ec = make_error_code(errc::invalid_option);
    context = "options: " + bad;
    return;
  }
  name_listeners();
  const unsigned nworkers = host_ != nullptr ? 1 : options_.threads;
  if (host_ == nullptr) {
    accept_io_ = std::make_unique<boost::asio::io_context>(1);
    for (unsigned i = 0; i < nworkers; ++i) worker_ios_.push_back(std::make_unique<boost::asio::io_context>(1));
  }
  boost::asio::io_context& accept_io = host_ != nullptr ? *host_ : *accept_io_;
  for (unsigned i = 0; i < nworkers; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i, host_ != nullptr ? *host_ : *worker_ios_[i], host_ == nullptr));
  }

  for (unsigned l = 0; l < options_.listeners.size(); ++l) {
    const ListenerOptions& lo = options_.listeners[l];
    std::uint16_t port = 0;
    const int fd = ListenSocket::open(lo, 0, ec, port);
    if (ec) {
      context = "bind " + describe(lo);
      return;
    }
    ports_.push_back(port);
    if (lo.transport == Transport::udp) {
      datagram_fds_.push_back(fd);
    } else if (lo.reuse_port && host_ == nullptr) {
      for (unsigned w = 0; w < nworkers; ++w) {
        std::uint16_t sibling_port = 0;
        const int wfd = w == 0 ? fd : ListenSocket::open(lo, port, ec, sibling_port);
        if (ec) {
          context = "bind " + describe(lo) + " (SO_REUSEPORT)";
          return;
        }
        Worker& worker = *workers_[w];
        acceptors_.push_back(std::make_unique<Acceptor>(*this, l, worker.io(), wfd, &worker, worker.counters()));
      }
    } else {
      acceptors_.push_back(std::make_unique<Acceptor>(*this, l, accept_io, fd, nullptr, accept_counters_));
    }
  }

  started_ = true;
  workers_running_.store(nworkers);
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([worker] { worker->start(); });
  }
  for (unsigned l = 0, d = 0; l < options_.listeners.size(); ++l) {
    if (options_.listeners[l].transport != Transport::udp) continue;
    const int fd = datagram_fds_[d++];
    for (auto& w : workers_) {
      Worker* worker = w.get();
      const int copy = ::dup(fd);  // each worker waits on its own descriptor of the shared socket
      if (copy >= 0) worker->post([worker, copy, l] { worker->adopt_datagram(copy, l); });
    }
  }
  for (auto& a : acceptors_) {
    Acceptor* acceptor = a.get();
    boost::asio::io_context& io = acceptor->own_worker() ? acceptor->own_worker()->io() : accept_io;
    boost::asio::post(io, [acceptor] { acceptor->start(); });
  }
  if (host_ == nullptr) {
    accept_guard_.emplace(accept_io_->get_executor());
    threads_.emplace_back([this] { accept_io_->run(); });
    for (auto& w : workers_) {
      Worker* worker = w.get();
      threads_.emplace_back([worker] { worker->run(); });
    }
  }
}

void ServerImpl::stop() noexcept {
  if (!started_ || stop_requested_.exchange(true)) return;
  boost::asio::io_context& accept_io = host_ != nullptr ? *host_ : *accept_io_;
  try {
    boost::asio::post(accept_io, [this] { close_acceptors_then_drain(); });
  } catch (...) {
    // Posting allocates; without memory the stop cannot be scheduled. Say so; do not throw.
    logger_.write(1, "stop(): could not schedule the stop (out of memory)");
  }
}

void ServerImpl::close_acceptors_then_drain() {
  for (auto& a : acceptors_) {
    if (a->own_worker() == nullptr) a->close();
  }
  accept_guard_.reset();
  // Posted after the acceptors closed, each drain runs after every hand-off already queued.
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([this, worker] {
      for (auto& a : acceptors_) {
        if (a->own_worker() == worker) a->close();
      }
      worker->begin_drain();
    });
  }
}

void ServerImpl::join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool ServerImpl::stopped() const noexcept {
  return stop_requested_.load() && workers_running_.load() == 0;
}

void ServerImpl::worker_finished() noexcept { workers_running_.fetch_sub(1); }

std::uint16_t ServerImpl::port(std::size_t index) const { return index < ports_.size() ? ports_[index] : 0; }

Worker& ServerImpl::next_worker() noexcept {
  Worker& w = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  return w;
}

ServerStats ServerImpl::stats() const {
  ServerStats s;
  s.total = accept_counters_.snapshot();
  for (const auto& w : workers_) {
    s.workers.push_back(w->counters().snapshot());
    s.total += s.workers.back();
  }
  s.max_connections = options_.max_connections;
  s.threads = workers_.size();
  for (const auto& a : acceptors_) s.accepting_conns = s.accepting_conns && !a->paused();
  return s;
}

void ServerImpl::close_connection(std::uint64_t id) {
  if (id == 0 || workers_.empty()) return;  // 0: a listener's row; empty: never started
  Worker* worker = workers_[worker_of(id, workers_.size())].get();
  worker->post([worker, id] { worker->close_connection(id); });
}

std::vector<ConnectionInfo> ServerImpl::connections() const {
  std::vector<ConnectionInfo> out;
  for (const auto& a : acceptors_) {
    const int fd = a->fd();
    if (fd < 0) continue;
    ConnectionInfo info;
    info.fd = fd;
    info.address = socket_address_text(fd, false, true);
    out.push_back(std::move(info));
  }
  for (const auto& w : workers_) w->list_connections(out);
  return out;
}


}  // namespace detail

Server::Server(ServerOptions options) : impl_(std::make_unique<detail::ServerImpl>(std::move(options), nullptr)) {}

Server::Server(boost::asio::io_context& host, ServerOptions options)
    : impl_(std::make_unique<detail::ServerImpl>(std::move(options), &host)) {}

Server::~Server() {
  detail::InjectedFaults::instance().take(this);  // never started: nothing stays attached to this address
}

void Server::start() {
  boost::system::error_code ec;
  std::string context;
  detail::start_with_injected_faults(this, *impl_, ec, context);
  if (ec) throw boost::system::system_error(ec, context);
}

void Server::start(boost::system::error_code& ec) {
  std::string context;
  detail::start_with_injected_faults(this, *impl_, ec, context);
}

void Server::stop() noexcept { impl_->stop(); }
void Server::join() { impl_->join(); }
bool Server::stopped() const noexcept { return impl_->stopped(); }
std::uint16_t Server::port(std::size_t index) const { return impl_->port(index); }
ServerStats Server::stats() const { return impl_->stats(); }
std::vector<ConnectionInfo> Server::connections() const { return impl_->connections(); }
void Server::close_connection(std::uint64_t id) { impl_->close_connection(id); }
const ServerOptions& Server::options() const noexcept { return impl_->options(); }
int Server::verbosity() const noexcept { return impl_->logger().verbosity(); }
void Server::set_verbosity(int level) noexcept { impl_->logger().set_verbosity(level); }

namespace testing {

void inject_faults(Server& server, FaultInjection faults) {
  detail::InjectedFaults& injected = detail::InjectedFaults::instance();
  std::lock_guard<std::mutex> lock(injected.mutex);
  for (auto& entry : injected.pending) {
    if (entry.first == &server) {
      entry.second = std::move(faults);
      return;
    }
  }
  injected.pending.emplace_back(&server, std::move(faults));
}

}  // namespace testing
}  // namespace connkit
