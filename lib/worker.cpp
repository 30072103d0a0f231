#include "worker.hpp"

#include <algorithm>
#include <cstdarg>
#include <new>

#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <connkit/error.hpp>

#include "address_text.hpp"
#include "log_line.hpp"
#include "server_impl.hpp"

namespace connkit::detail {
namespace {

// How long a lingering close may wait for the peer's EOF.
constexpr std::chrono::seconds linger_timeout{2};

}  // namespace

Worker::Worker(ServerImpl& server, unsigned index, boost::asio::io_context& io, bool owned_thread)
    : server_(server),
      options_(server.options()),
      logger_(server.logger()),
      index_(index),
      io_(io),
      poller_(io, owned_thread && options_.own_loop, options_.io_uring, server.faults().fail_loop_check),
      deferred_(io, &Worker::deliver_deferred, this),
      read_buffers_(options_.read_buffer_size, counters_),
      reply_lists_(options_.write_buffer_size),
      sweep_timer_(io),
      drain_timer_(io) {
  for (unsigned l = 0; l < options_.listeners.size(); ++l) {
    pools_.push_back(std::make_unique<ConnectionPool>(*this, l, options_.listeners[l], counters_[&ConnectionStats::conn_structs]));
  }
  poller_.add_notifier(
      deferred_.notify_fd(), [](void* queue) noexcept { static_cast<DeferredQueue*>(queue)->drain(); }, &deferred_);
  if (owned_thread) guard_.emplace(io.get_executor());
  if (owned_thread && options_.own_loop && !poller_.loop_mode()) {
    logf(logger_, 1, "worker %u: Asio's reactor cannot wake the worker's epoll set; io_context::run() drives it", index_);
  }
}

Worker::~Worker() = default;

void Worker::start() {
  poller_.start();
  arm_sweep();
}

void Worker::run() {
  if (poller_.loop_mode()) {
    poller_.run();
  } else {
    io_.run();
  }
}

ConnectionEngine* Worker::adopt(int fd, unsigned listener) {
  if (draining_) {
    ::close(fd);
    server_.live().fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  ConnectionEngine* c = nullptr;
  try {
    if (server_.faults().fail_connection_alloc && server_.faults().fail_connection_alloc()) throw std::bad_alloc();
    c = &pools_[listener]->acquire();
  } catch (...) {
    // memcached's conn_new failure: refuse this client, keep serving the others.
    counters_[&ConnectionStats::malloc_fails].add();
    logf(logger_, 1, "Failed to allocate a connection object for fd %d", fd);
    ::close(fd);
    server_.live().fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  boost::system::error_code ec;
  if (server_.faults().fail_register && server_.faults().fail_register()) {
    ec = boost::asio::error::no_descriptors;
  } else {
    poller_.add(fd, *c, ec);
  }
  if (ec) {
    // The seed's event_add failure path: the struct goes back to the free list.
    logf(logger_, 1, "<%d could not register the connection: %s", fd, ec.message().c_str());
    ::close(fd);
    pools_[listener]->release(*c);
    server_.live().fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  link(*c);
  counters_[&ConnectionStats::curr_conns].add();
  counters_[&ConnectionStats::total_conns].add();
  c->open(fd);
  return c;
}

void Worker::adopt_datagram(int fd, unsigned listener) {
  if (draining_) {
    ::close(fd);
    return;
  }
  try {
    // Pinned: its one handler now. Negotiating: each datagram's first payload byte chooses.
    const ListenerOptions& o = options_.listeners[listener];
    std::unique_ptr<ProtocolHandler> handler;
    if (!negotiates(o)) {
      handler = o.handler ? o.handler() : o.binary_handler();
      if (!handler) throw std::bad_alloc();
    }
    auto c = std::make_unique<ConnectionEngine>(*this, listener, std::move(handler));
    c->make_datagram();
    boost::system::error_code ec;
    poller_.add(fd, *c, ec);
    if (ec) throw boost::system::system_error(ec, "epoll_ctl");
    datagram_conns_.push_back(std::move(c));
  } catch (const std::exception& e) {
    counters_[&ConnectionStats::malloc_fails].add();
    logf(logger_, 1, "<%d could not set up the UDP listener: %s", fd, e.what());
    ::close(fd);
    return;
  }
  ConnectionEngine& c = *datagram_conns_.back();
  link(c);
  logf(logger_, 2, "<%d server listening (udp)", fd);
  c.open(fd);
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_timer_.expires_after(options_.stop_timeout);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (ConnectionEngine* c = open_head_; c != nullptr;) {
      ConnectionEngine* next = c->list_next;
      c->kick(make_error_code(errc::stop_deadline), false);
      c = next;
    }
  });
  for (ConnectionEngine* c = open_head_; c != nullptr;) {
    ConnectionEngine* next = c->list_next;  // a kick may release c
    // A serving stream connection may queue a last reply first; the kick flushes it. A
    // handler that throws there is closed at once.
    bool threw = false;
    try {
      // A negotiating connection that has not sent a byte has no handler to tell.
      if (c->serving() && c->chosen_handler() != nullptr) c->chosen_handler()->on_stop(c->facade());
    } catch (...) {
      logf(logger_, 1, "<%d protocol handler threw in on_stop", c->fd());
      threw = true;
    }
    c->kick(make_error_code(threw ? errc::protocol_close : errc::server_stopping), !threw);
    c = next;
  }
  maybe_finish();
}

std::uint64_t Worker::next_connection_id() noexcept {
  return connection_id(next_serial_++, index_, server_.worker_count());
}

void Worker::close_connection(std::uint64_t id) {
  for (ConnectionEngine* c = open_head_; c != nullptr; c = c->list_next) {
    if (c->id() == id && !c->is_datagram()) {
      c->kick(make_error_code(errc::closed_by_server), false);
      return;
    }
  }
}

void Worker::release(ConnectionEngine& c) noexcept {
  unlink(c);
  if (!c.is_datagram()) {
    // The slot is free for the acceptor before the gauge says so: a caller that sees
    // curr_connections drop can connect again.
    server_.live().fetch_sub(1, std::memory_order_release);
    counters_[&ConnectionStats::curr_conns].sub();
    pools_[c.listener()]->release(c);
  }
  maybe_finish();
}

void Worker::deliver_deferred(void* worker, DeferredRecord& r) noexcept {
  if (r.orphan) {  // its connection closed while the reply was being given
    static_cast<Worker*>(worker)->deferred_.release(r);
    return;
  }
  r.conn->on_deferred_done(r);
}

void Worker::maybe_finish() {
  if (!draining_ || finished_ || open_count_ != 0) return;
  finished_ = true;
  drain_timer_.cancel();
  sweep_timer_.cancel();
  poller_.stop();
  poller_.note_post();  // the cancelled timers' handlers are queued
  guard_.reset();  // the owned thread's run() returns once nothing is left to do
  server_.worker_finished();
}

void Worker::link(ConnectionEngine& c) noexcept {
  std::lock_guard<std::mutex> lock(list_mutex_);
  c.list_prev = nullptr;
  c.list_next = open_head_;
  if (open_head_ != nullptr) open_head_->list_prev = &c;
  open_head_ = &c;
  ++open_count_;
}

void Worker::unlink(ConnectionEngine& c) noexcept {
  std::lock_guard<std::mutex> lock(list_mutex_);
  if (c.list_prev != nullptr) c.list_prev->list_next = c.list_next;
  if (c.list_next != nullptr) c.list_next->list_prev = c.list_prev;
  if (open_head_ == &c) open_head_ = c.list_next;
  c.list_prev = c.list_next = nullptr;
  --open_count_;
}

void Worker::arm_sweep() {
  if (finished_) return;
  // A quarter of the shorter timeout between sweeps (10 ms .. 1 s): a connection is kicked
  // between idle_timeout and 1.25 x idle_timeout after its last input, and likewise for
  // write_stall_timeout. Without either the sweep still bounds lingering closes.
  std::chrono::milliseconds shortest(1000 * 4);
  for (const std::chrono::milliseconds t : {options_.idle_timeout, options_.write_stall_timeout}) {
    if (t.count() > 0) shortest = std::min(shortest, t);
  }
  const auto period = std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  sweep_timer_.expires_after(period);
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    sweep();
    arm_sweep();
  });
}

void Worker::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (ConnectionEngine* c = open_head_; c != nullptr;) {
    ConnectionEngine* next = c->list_next;
    if (c->lingering() && now - c->last_active() >= linger_timeout) {
      c->kick(make_error_code(errc::idle_timeout), false);
    } else if (options_.idle_timeout.count() > 0 && c->waiting_for_input() &&
               now - c->last_active() >= options_.idle_timeout) {
      counters_[&ConnectionStats::idle_kicks].add();
      logf(logger_, 2, "<%d idle timeout, closing", c->fd());
      c->kick(make_error_code(errc::idle_timeout), false);
    } else if (options_.write_stall_timeout.count() > 0 && c->write_stalled(now, options_.write_stall_timeout)) {
      counters_[&ConnectionStats::write_stall_kicks].add();
      logf(logger_, 2, "<%d write stall timeout, closing", c->fd());
      c->kick(make_error_code(errc::write_stall), false);
    }
    c = next;
  }
}

void Worker::list_connections(std::vector<ConnectionInfo>& out) const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(list_mutex_);
  for (const ConnectionEngine* c = open_head_; c != nullptr; c = c->list_next) {
    const int fd = c->listed_fd();
    if (fd < 0) continue;
    ConnectionInfo info;
    info.id = c->id();
    info.fd = fd;
    info.worker = index_;
    info.state = c->state();
    if (c->is_datagram()) {
      // This worker's descriptor of a UDP socket: its local address only (the sender of
      // the datagram being served is not readable from here).
      info.transport = Transport::udp;
      info.address = socket_address_text(fd, false, true);
    } else {
      info.address = socket_address_text(fd, true, true);
      info.listen_address = socket_address_text(fd, false, true);
    }
    info.idle = std::chrono::duration_cast<std::chrono::seconds>(now - c->last_active());
    out.push_back(std::move(info));
  }
}

void Worker::log(int level, std::string_view line) const { logger_.write(level, line); }


}  // namespace connkit::detail
