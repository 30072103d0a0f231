// The connection state machine: memcached's drive_machine(), with one difference that
// shapes everything here: protocol handlers never set states. They return an Action, and
// apply() turns it into the next state, so every transition is in this file.

#include <connkit/connection.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <connkit/error.hpp>

#include "datagram_peer.hpp"
#include "log_line.hpp"
#include "worker.hpp"

namespace connkit {
namespace {

// One sendmsg() gathers at most this many iovecs (Linux IOV_MAX is 1024).
constexpr std::size_t max_iov = IOV_MAX;


boost::system::error_code errno_code(int err) noexcept { return {err, boost::system::system_category()}; }

}  // namespace

template <class Call>
Action Connection::guarded(Call&& call) {
  // A throwing handler closes its own connection; it never unwinds into io_context::run().
  try {
    return call();
  } catch (const std::exception& e) {
    detail::logf(worker_.logger(), 1, "<%d protocol handler threw: %s", native_handle(), e.what());
  } catch (...) {
    detail::logf(worker_.logger(), 1, "<%d protocol handler threw", native_handle());
  }
  if (!close_reason_) close_reason_ = make_error_code(errc::protocol_close);
  return Action::close();
}

void Connection::set_state(ConnState next) {
  if (next != state_ && worker_.logger().enabled(3)) {
    detail::logf(worker_.logger(), 3, "%d: going from %s to %s", fd_, to_string(state_).data(),
                 to_string(next).data());
  }
  state_.store(next, std::memory_order_relaxed);
}

void Connection::drive() {
  for (;;) {
    switch (state_.load(std::memory_order_relaxed)) {
      case ConnState::listening:
        return;  // listening sockets are driven by the acceptor, never here

      case ConnState::new_cmd: {
        if (kicked_) {
          if (flush_on_kick_ && has_output()) {
            flush_then(ConnState::closing);
          } else {
            set_state(ConnState::closing);
          }
          break;
        }
        const ServerOptions& opts = worker_.options();
        if (!incomplete_ && !rbuf_.empty()) {
          if (requests_in_event_ >= opts.reqs_per_event) {
            // Fairness: send what this burst produced, then go to the back of the queue.
            if (has_output()) {
              flush_then(ConnState::new_cmd);
              break;
            }
            yield();
            return;
          }
          if (has_output() && out_->pending_bytes() >= opts.output_high_water) {
            flush_then(ConnState::new_cmd);  // bound queued output before parsing more
            break;
          }
          set_state(ConnState::parse_cmd);
        } else if (has_output()) {
          flush_then(ConnState::new_cmd);
        } else {
          set_state(ConnState::waiting);
        }
        break;
      }

      case ConnState::waiting:
        // Nothing to parse or send: an idle connection gives its buffers back.
        if (rbuf_.empty()) return_read_buffer();
        if (out_ != nullptr && out_->empty()) return_output();
        set_state(ConnState::read);
        if (in_ready_) break;  // not proven drained: no new edge would come, so read now
        start_wait(Wait::read);
        return;

      case ConnState::read: {
        const Io r = read_more();
        if (r == Io::again) {
          set_state(ConnState::waiting);
        } else if (r == Io::done) {
          incomplete_ = false;
          set_state(ConnState::parse_cmd);
        } else {
          set_state(ConnState::closing);
        }
        break;
      }

      case ConnState::parse_cmd: {
        apply(guarded([&] { return handler_->on_input(*this, rbuf_.unparsed()); }));
        break;
      }

      case ConnState::nread: {
        if (body_dest_ != nullptr) {
          if (body_done_ < body_size_) {
            std::size_t got = 0;
            const Io r = read_into({body_dest_ + body_done_, body_size_ - body_done_}, got);
            if (r == Io::again) {
              if (!wait_for_body()) break;
              return;
            }
            if (r != Io::done) {
              set_state(ConnState::closing);
              break;
            }
            body_done_ += got;
            if (body_done_ < body_size_) break;
          }
          deliver_body();
          break;
        }
        if (rbuf_.size() >= body_size_) {
          deliver_body();
          break;
        }
        if (rbuf_.capacity() < body_size_ && !grow_read_buffer(body_size_)) {
          close_reason_ = make_error_code(boost::system::errc::not_enough_memory);
          set_state(ConnState::closing);
          break;
        }
        rbuf_.compact();
        const Io r = read_more();
        if (r == Io::again) {
          if (!wait_for_body()) break;
          return;
        }
        if (r != Io::done) set_state(ConnState::closing);
        break;
      }

      case ConnState::swallow: {
        const std::size_t drop = std::min(rbuf_.size(), body_size_ - body_done_);
        rbuf_.consume(drop);
        body_done_ += drop;
        if (body_done_ == body_size_) {
          body_size_ = body_done_ = 0;
          set_state(lingering_ ? ConnState::closing : ConnState::new_cmd);
          break;
        }
        const Io r = read_more();  // the buffer is empty here: read into it and drop
        if (r == Io::again) {
          if (!wait_for_body()) break;
          return;
        }
        if (r != Io::done) set_state(ConnState::closing);
        break;
      }

      case ConnState::write:
      case ConnState::mwrite: {
        if (out_ready_ && worker_.poller().defer_send(*this)) {
          op_pending_ = true;  // on_sent() goes on from here once this wake-up's replies are out
          return;
        }
        const Io r = transmit();
        if (r == Io::again) {  // transmit() cleared out_ready_: the next edge will come
          start_wait(Wait::write);
          return;
        }
        if (r != Io::done) {
          set_state(ConnState::closing);
          break;
        }
        finish_write();
        break;
      }

      case ConnState::closing:
        if (start_linger()) break;
        close_now();
        return;
    }
  }
}

void Connection::apply(const Action& action) {
  if (action.kind() == Action::Kind::need_more) {
    need_more_input();
    return;
  }
  if (action.consumed_bytes() > rbuf_.size()) {
    detail::logf(worker_.logger(), 1, "<%d handler consumed %zu bytes of %zu", fd_, action.consumed_bytes(),
                 rbuf_.size());
    if (!close_reason_) close_reason_ = make_error_code(errc::bad_action);
    set_state(ConnState::closing);
    return;
  }
  rbuf_.consume(action.consumed_bytes());
  if (state_ == ConnState::parse_cmd) ++requests_in_event_;  // a body's on_body is the same request
  ConnState next = ConnState::new_cmd;
  switch (action.kind()) {
    case Action::Kind::need_more:
    case Action::Kind::consumed:
      break;
    case Action::Kind::read_body:
      if (action.body_bytes() > worker_.options().read_buffer_limit) {
        if (!close_reason_) close_reason_ = make_error_code(errc::input_too_large);
        next = ConnState::closing;
        break;
      }
      body_dest_ = nullptr;
      body_size_ = action.body_bytes();
      body_done_ = 0;
      next = ConnState::nread;
      break;
    case Action::Kind::read_body_into: {
      const std::span<char> dest = action.body_destination();
      body_dest_ = dest.data();
      body_size_ = dest.size();
      body_done_ = std::min(rbuf_.size(), body_size_);
      if (body_done_ != 0) std::memcpy(body_dest_, rbuf_.unparsed().data(), body_done_);
      rbuf_.consume(body_done_);
      next = ConnState::nread;
      break;
    }
    case Action::Kind::swallow:
      body_size_ = action.body_bytes();
      body_done_ = 0;
      next = ConnState::swallow;
      break;
    case Action::Kind::close:
      if (!close_reason_) close_reason_ = make_error_code(errc::protocol_close);
      next = ConnState::closing;
      break;
    case Action::Kind::write_and_close:
      if (!close_reason_) close_reason_ = make_error_code(errc::protocol_close);
      after_write_ = ConnState::closing;
      next = has_output() ? ConnState::mwrite : ConnState::closing;
      break;
  }

  ConnState chosen = next;
  try {
    chosen = handler_->transition(*this, state_, action, next);
  } catch (...) {
    chosen = ConnState::closing;
  }
  if (chosen == ConnState::mwrite && next == ConnState::new_cmd) {
    if (has_output()) {
      flush_then(ConnState::new_cmd);
      return;
    }
    chosen = next;
  } else if (chosen != next && chosen != ConnState::closing) {
    detail::logf(worker_.logger(), 1, "<%d transition() chose %s after %s; keeping %s", fd_, to_string(chosen).data(),
                 to_string(state_).data(), to_string(next).data());
    chosen = next;
  }
  if (chosen == ConnState::mwrite) {
    flush_then(after_write_);
    return;
  }
  set_state(chosen);
}

void Connection::need_more_input() {
  if (is_datagram()) {
    // One datagram is one input: what the handler could not use is dropped.
    rbuf_.consume(rbuf_.size());
    set_state(ConnState::new_cmd);
    return;
  }
  incomplete_ = true;
  if (rbuf_.has_storage() && rbuf_.free_space().empty()) {
    rbuf_.compact();
    if (rbuf_.free_space().empty()) {
      if (rbuf_.capacity() < worker_.options().read_buffer_limit) {
        if (!grow_read_buffer(rbuf_.capacity() + 1)) {
          close_reason_ = make_error_code(boost::system::errc::not_enough_memory);
          set_state(ConnState::closing);
          return;
        }
      } else {
        Action action = guarded([&] { return handler_->on_input_too_large(*this); });
        incomplete_ = false;
        if (action.kind() == Action::Kind::need_more) action = Action::close();
        if (action.kind() == Action::Kind::close || action.kind() == Action::Kind::write_and_close) {
          if (!close_reason_) close_reason_ = make_error_code(errc::input_too_large);
        }
        apply(action);
        return;
      }
    }
  }
  set_state(ConnState::new_cmd);
}

void Connection::deliver_body() {
  const bool buffered = body_dest_ == nullptr;
  const std::span<char> body = buffered
      ? std::span<char>(const_cast<char*>(rbuf_.unparsed().data()), body_size_)
      : std::span<char>(body_dest_, body_size_);
  const Action action = guarded([&] { return handler_->on_body(*this, body); });
  if (buffered) rbuf_.consume(body_size_);
  body_dest_ = nullptr;
  body_size_ = body_done_ = 0;
  apply(action);
}

bool Connection::wait_for_body() {
  // Replies to earlier requests go out before waiting for the rest of a body, so a
  // client that waits for them before sending more is never stalled.
  if (has_output()) {
    flush_then(state_);
    return false;
  }
  if (in_ready_) return false;  // read again first
  start_wait(Wait::read);
  return true;
}

void Connection::flush_then(ConnState after) {
  after_write_ = after;
  set_state(out_->segment_count() > 1 ? ConnState::mwrite : ConnState::write);
}

void Connection::start_wait(Wait what) {
  op_pending_ = true;
  poll_wait_ = what;
}

void Connection::on_poll(std::uint32_t events) {
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) in_ready_ = true;
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) out_ready_ = true;
  if ((poll_wait_ == Wait::read && in_ready_) || (poll_wait_ == Wait::write && out_ready_)) {
    poll_wait_ = Wait::none;
    on_wait_done({});
  }
}

void Connection::yield() {
  worker_.counters()[&ConnectionStats::conn_yields].add();
  op_pending_ = true;
  auto resume = [this] { on_wait_done({}); };
  boost::asio::post(worker_.io(), detail::SlotBound<decltype(resume)>(slot_, resume));
  worker_.poller().note_post();
}

void Connection::on_wait_done(const boost::system::error_code& ec) {
  op_pending_ = false;
  if (state_ == ConnState::closing) {
    worker_.release(*this);  // closed while the operation was outstanding; nothing touches this after
    return;
  }
  requests_in_event_ = 0;  // a new event: a fresh fairness budget
  resume(ec);
}

void Connection::on_sent(int result) {
  // The fairness budget is not renewed: the send was part of the same event.
  op_pending_ = false;
  // -ECANCELED: the ring did not attempt it; the write state sends it with send() now.
  const std::optional<Io> r = result == -ECANCELED ? std::nullopt : account_send(result, out_->pending_bytes());
  if (r == Io::again && !kicked_) {
    start_wait(Wait::write);
    return;
  }
  if (r == Io::error) {
    set_state(ConnState::closing);
  } else if (r == Io::done) {
    finish_write();
  }  // otherwise the write state goes on: transmit() sends the rest
  resume({});
}

void Connection::finish_write() {
  return_output();
  linger_ = after_write_ == ConnState::closing;  // a graceful close: replies must arrive
  set_state(after_write_);
  after_write_ = ConnState::new_cmd;
}

void Connection::resume(const boost::system::error_code& ec) {
  if (kicked_) {
    if (!flush_on_kick_ || !has_output()) {
      set_state(ConnState::closing);
    } else if (state_ == ConnState::write || state_ == ConnState::mwrite) {
      after_write_ = ConnState::closing;
    } else {
      flush_then(ConnState::closing);
    }
  } else if (ec) {
    if (!close_reason_) close_reason_ = ec;
    set_state(ConnState::closing);
  }
  drive();
}

bool Connection::start_linger() {
  // Closing a socket with unread input makes the kernel send RST, and the peer then loses
  // replies it has not read yet. After a graceful flush, send FIN instead and discard input
  // until the peer closes or the worker's sweep ends it (linger_timeout from now, however
  // much the peer keeps sending), as nginx's lingering_time.
  if (!linger_ || lingering_ || is_datagram()) return false;
  linger_ = false;
  lingering_ = true;
  kicked_ = false;
  if (::shutdown(fd_, SHUT_WR) != 0) return false;
  rbuf_.consume(rbuf_.size());
  body_size_ = SIZE_MAX;
  body_done_ = 0;
  touch_active();
  set_state(ConnState::swallow);
  return true;
}

void Connection::close_now() {
  try {
    handler_->on_close(*this, close_reason_);
  } catch (...) {
  }
  detail::logf(worker_.logger(), 2, "<%d connection closed.", fd_);
  if (out_ != nullptr) return_output();  // clears, releasing borrowed bytes
  return_read_buffer();
  fd_number_.store(-1, std::memory_order_relaxed);
  if (fd_ >= 0) {
    worker_.poller().remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  if (!op_pending_) worker_.release(*this);  // else on_wait_done releases it
}

Connection::Io Connection::read_more() {
  if (!rbuf_.has_storage()) {
    char* storage = worker_.read_buffers().allocate(worker_.read_buffers().buffer_size());
    if (storage == nullptr) {
      close_reason_ = make_error_code(boost::system::errc::not_enough_memory);
      return Io::error;
    }
    rbuf_.attach(storage, worker_.read_buffers().buffer_size());
  }
  if (rbuf_.free_space().size() < rbuf_.capacity() / 2) rbuf_.compact();
  std::size_t got = 0;
  const Io r = read_into(rbuf_.free_space(), got);
  if (r == Io::done) rbuf_.commit(got);
  return r;
}

Connection::Io Connection::read_into(std::span<char> dest, std::size_t& got) {
  if (dest.empty()) {
    if (!close_reason_) close_reason_ = make_error_code(errc::bad_action);
    return Io::error;
  }
  for (;;) {
    ssize_t n;
    if (dgram_ != nullptr) {
      dgram_->length = sizeof dgram_->address;
      n = ::recvfrom(fd_, dest.data(), dest.size(), MSG_DONTWAIT,
                     reinterpret_cast<sockaddr*>(&dgram_->address), &dgram_->length);
    } else {
      n = ::recv(fd_, dest.data(), dest.size(), MSG_DONTWAIT);
    }
    if (n > 0) {
      got = static_cast<std::size_t>(n);
      // A short read from a stream socket took everything queued (TCP and UNIX stream
      // receive loops stop early only at a TCP urgent mark, and a client sending urgent
      // data stalls only itself): data arriving after it raises a new edge. A datagram
      // socket may hold more datagrams whatever the size.
      if (dgram_ == nullptr && got < dest.size()) in_ready_ = false;
      worker_.counters()[&ConnectionStats::bytes_read].add(got);
      if (!lingering_) touch_active();
      return Io::done;
    }
    if (n == 0) {
      if (dgram_ != nullptr) return Io::again;  // an empty datagram: nothing to do
      if (!close_reason_) close_reason_ = make_error_code(errc::peer_closed);
      return Io::eof;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      in_ready_ = false;
      return Io::again;
    }
    if (dgram_ != nullptr) return Io::again;  // e.g. ECONNREFUSED from an earlier reply: not fatal
    if (!close_reason_) close_reason_ = errno_code(err);
    return Io::error;
  }
}

Connection::Io Connection::transmit() {
  // memcached's transmit(): one sendmsg() per batch of up to IOV_MAX iovecs, resuming
  // partial writes at the exact byte.
  iovec iov[max_iov];
  for (;;) {
    const std::size_t count = out_->gather(std::span<iovec>(iov, max_iov));
    std::size_t batch = 0;
    for (std::size_t i = 0; i < count; ++i) batch += iov[i].iov_len;
    ssize_t n;
    if (count == 1 && dgram_ == nullptr) {
      n = ::send(fd_, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);  // no iovec array to import
    } else {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = count;
      if (dgram_ != nullptr) {
        msg.msg_name = &dgram_->address;
        msg.msg_namelen = dgram_->length;
      }
      n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    if (const std::optional<Io> r = account_send(n >= 0 ? n : -errno, batch)) return *r;
  }
}

std::optional<Connection::Io> Connection::account_send(ssize_t result, std::size_t batch) {
  if (result >= 0) {
    const auto sent = static_cast<std::size_t>(result);
    worker_.counters()[&ConnectionStats::bytes_written].add(sent);
    out_->consume(sent);
    if (out_->empty()) return Io::done;
    if (sent < batch) {  // the socket buffer is full: wait for room
      out_ready_ = false;
      return Io::again;
    }
    return std::nullopt;  // a full IOV_MAX window went out: send the next
  }
  const auto err = static_cast<int>(-result);
  if (err == EINTR) return std::nullopt;
  if (err == EAGAIN || err == EWOULDBLOCK) {
    out_ready_ = false;
    return Io::again;
  }
  if (dgram_ != nullptr) {
    out_->clear();  // an undeliverable datagram is dropped; the listener goes on
    return Io::done;
  }
  if (!close_reason_) close_reason_ = errno_code(err);
  return Io::error;
}

}  // namespace connkit
