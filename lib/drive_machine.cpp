// The connection state machine: memcached's drive_machine(), with one difference that
// shapes everything here: protocol handlers never set states. They return an Action, and
// apply() turns it into the next state. Every ConnState and Closing transition is in this
// file; drive() runs one short step per state until one has to wait.

#include "connection_engine.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <connkit/error.hpp>

#include "datagram_peer.hpp"
#include "deferred.hpp"
#include "log_line.hpp"
#include "worker.hpp"

namespace connkit::detail {

template <class Call>
Action ConnectionEngine::guarded(Call&& call) {
  // A throwing handler closes its own connection; it never unwinds into io_context::run().
  try {
    return call();
  } catch (const std::exception& e) {
    logf(worker_.logger(), 1, "<%d protocol handler threw: %s", fd_, e.what());
  } catch (...) {
    logf(worker_.logger(), 1, "<%d protocol handler threw", fd_);
  }
  set_close_reason(make_error_code(errc::protocol_close));
  return Action::close();
}

void ConnectionEngine::set_state(ConnState next) {
  if (next != state() && worker_.logger().enabled(3)) {
    logf(worker_.logger(), 3, "%d: going from %s to %s", fd_, to_string(state()).data(), to_string(next).data());
  }
  state_.store(next, std::memory_order_relaxed);
}

// --- Entries: the worker opens and kicks; the Poller delivers readiness -----------------

void ConnectionEngine::open(int fd) {
  fd_ = fd;
  id_.store(worker_.next_connection_id(), std::memory_order_relaxed);
  close_reason_.clear();
  closing_ = Closing::no;
  incomplete_ = false;
  requests_in_event_ = 0;
  authenticated_ = !worker_.options().listeners[listener_].require_auth;
  after_write_ = ConnState::new_cmd;
  body_dest_ = nullptr;
  body_size_ = body_done_ = 0;
  poll_wait_ = Wait::none;
  in_ready_ = out_ready_ = true;  // a new socket may already hold input
  touch_active();
  fd_number_.store(fd, std::memory_order_relaxed);
  set_state(ConnState::new_cmd);
  if (handler_ == nullptr) {
    // Negotiating: the protocol is unknown until the first byte arrives (step_negotiate;
    // for UDP, begin_datagram).
    if (dgram_ == nullptr) logf(worker_.logger(), 2, "<%d new auto-negotiating client connection", fd);
  } else {
    if (dgram_ == nullptr) {
      logf(worker_.logger(), 2, "<%d new %.*s client connection.", fd,
           static_cast<int>(handler_->protocol_name().size()), handler_->protocol_name().data());
    }
    open_handler();
  }
  drive();
}

void ConnectionEngine::open_handler() {
  const bool was_busy = busy_;
  busy_ = true;  // a deferred reply given inside on_open only fills its hold
  try {
    handler_->on_open(facade_);
  } catch (...) {
    set_close_reason(make_error_code(errc::protocol_close));
    set_state(ConnState::closing);
  }
  busy_ = was_busy;
}

void ConnectionEngine::kick(boost::system::error_code reason, bool flush_first) {
  if (state() == ConnState::closing) return;
  if (closing_ == Closing::lingering && flush_first) return;  // already flushed; the linger ends on its own
  set_close_reason(reason);
  if (flush_first && (state() == ConnState::write || state() == ConnState::mwrite)) {
    // Let the write in progress finish, then close (after the deferred replies, if any).
    if (deferred_count_ == 0) {
      after_write_ = ConnState::closing;
    } else {
      closing_ = Closing::flush;
      after_write_ = ConnState::new_cmd;
    }
    return;
  }
  closing_ = flush_first ? Closing::flush : Closing::abort;
  if (op_pending_) {
    // A wait for readiness ends now, as a cancelled Asio wait would: on_wait_done closes.
    // A pending post (a fairness yield) sees closing_ when it runs.
    if (poll_wait_ != Wait::none) {
      poll_wait_ = Wait::none;
      auto aborted = [this] { on_wait_done(boost::asio::error::operation_aborted); };
      boost::asio::post(worker_.io(), SlotBound<decltype(aborted)>(slot_, aborted));
      worker_.poller().note_post();
    }
    return;
  }
  // Not waiting on anything: between requests, or in io_queue waiting for deferred replies.
  set_state(closing_ == Closing::flush && deferred_count_ != 0 ? ConnState::new_cmd : ConnState::closing);
  drive();
}

void ConnectionEngine::refuse(std::string_view reply) {
  // Reason errc::refused wherever it is called (counted in refused_conns and, as a close,
  // in closed_by_server). Inside a callback the machine is running: closing_ is enough,
  // step_new_cmd closes once the callback's Action is applied (open() drives after
  // on_open). Outside one (a timer on the worker's executor), the machine is parked
  // (a wait, or io_queue): kick.
  if (dgram_ != nullptr || closing_ != Closing::no || state() == ConnState::closing) return;
  if (!reply.empty()) output().append_copy(reply);
  worker_.counters()[&ConnectionStats::refused_conns].add();
  if (!busy_) {
    kick(make_error_code(errc::refused), true);
    return;
  }
  set_close_reason(make_error_code(errc::refused));
  closing_ = Closing::flush;
}

void ConnectionEngine::on_poll(std::uint32_t events) {
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) in_ready_ = true;
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) out_ready_ = true;
  if ((poll_wait_ == Wait::read && in_ready_) || (poll_wait_ == Wait::write && out_ready_)) {
    poll_wait_ = Wait::none;
    on_wait_done({});
  }
}

void ConnectionEngine::on_sent(int result) {
  // The fairness budget is not renewed: the send was part of the same event.
  op_pending_ = false;
  // -ECANCELED: the ring did not attempt it; the write state sends it with send() now.
  const std::optional<Io> r = result == -ECANCELED ? std::nullopt : account_send(result, ring_batch_);
  if (r == Io::again && closing_ == Closing::no) {
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

// --- The machine ---------------------------------------------------------------------

void ConnectionEngine::drive() {
  struct Busy {
    bool& flag;
    explicit Busy(bool& f) : flag(f) { flag = true; }
    ~Busy() { flag = false; }
  } busy(busy_);
  for (;;) {
    Next next = Next::go_on;
    switch (state()) {
      case ConnState::listening:
        return;  // listening sockets are driven by the acceptor, never here
      case ConnState::new_cmd:
        next = step_new_cmd();
        break;
      case ConnState::waiting:
        next = step_waiting();
        break;
      case ConnState::read:
        next = step_read();
        break;
      case ConnState::parse_cmd:
        if (handler_ == nullptr) {
          next = step_negotiate();
          break;
        }
        apply(guarded([&] { return handler_->on_input(facade_, rbuf_.unparsed()); }));
        break;
      case ConnState::nread:
        next = body_dest_ != nullptr ? step_nread_into() : step_nread();
        break;
      case ConnState::swallow:
        next = step_swallow();
        break;
      case ConnState::write:
      case ConnState::mwrite:
        next = step_write();
        break;
      case ConnState::io_queue:
        return;  // on_deferred_done() goes on
      case ConnState::closing:
        next = step_closing();
        break;
    }
    if (next == Next::stop) return;
  }
}

ConnectionEngine::Next ConnectionEngine::step_new_cmd() {
  if (closing_ == Closing::abort || closing_ == Closing::flush) {  // kicked, or write_and_close
    if (closing_ == Closing::flush && has_output()) {
      flush_then(deferred_count_ != 0 ? ConnState::new_cmd : ConnState::closing);
    } else if (closing_ == Closing::flush && deferred_count_ != 0) {
      set_state(ConnState::io_queue);  // the deferred replies go out before the close
      return Next::stop;
    } else {
      set_state(ConnState::closing);
    }
    return Next::go_on;
  }
  if (deferred_count_ >= max_deferred_) {
    // memcached's conn_io_queue: parse nothing more (nor read) until a reply is given.
    if (has_output()) {
      flush_then(ConnState::new_cmd);
      return Next::go_on;
    }
    set_state(ConnState::io_queue);
    return Next::stop;
  }
  if (incomplete_ || rbuf_.empty()) {
    if (has_output()) {
      flush_then(ConnState::new_cmd);
    } else {
      set_state(ConnState::waiting);
    }
    return Next::go_on;
  }
  if (dgram_ != nullptr) {
    // A datagram's replies leave together, as one message, once all of it is parsed; it
    // holds at most 64 KiB, so parsing it whole is bounded. Fairness is per datagram
    // (step_waiting).
    set_state(ConnState::parse_cmd);
    return Next::go_on;
  }
  const ServerOptions& opts = worker_.options();
  if (requests_in_event_ >= opts.reqs_per_event) {
    // Fairness: send what this burst produced, then go to the back of the queue.
    if (has_output()) {
      flush_then(ConnState::new_cmd);
      return Next::go_on;
    }
    yield();
    return Next::stop;
  }
  if (has_output() && out_->pending_bytes() >= opts.output_high_water) {
    flush_then(ConnState::new_cmd);  // bound queued output before parsing more
  } else {
    set_state(ConnState::parse_cmd);
  }
  return Next::go_on;
}

ConnectionEngine::Next ConnectionEngine::step_waiting() {
  // Nothing to parse or send: an idle connection gives its buffers back (a UDP listener's
  // keeps its datagram-sized one).
  if (rbuf_.empty() && dgram_ == nullptr) return_read_buffer();
  return_output_if_idle();
  set_state(ConnState::read);
  if (in_ready_) {
    // Not proven drained: no new edge would come, so read now; a UDP socket that never
    // drains yields after reqs_per_event datagrams, as a stream connection after requests.
    if (dgram_ != nullptr && requests_in_event_ >= worker_.options().reqs_per_event) {
      yield();
      return Next::stop;
    }
    return Next::go_on;
  }
  start_wait(Wait::read);
  return Next::stop;
}

ConnectionEngine::Next ConnectionEngine::step_read() {
  if (dgram_ != nullptr) ++requests_in_event_;  // every datagram counts, dropped ones too
  const Io r = read_more();
  if (r == Io::again || (r == Io::done && dgram_ != nullptr && !begin_datagram())) {
    set_state(ConnState::waiting);
  } else if (r == Io::done) {
    incomplete_ = false;
    set_state(ConnState::parse_cmd);
  } else {
    set_state(ConnState::closing);
  }
  return Next::go_on;
}

ConnectionEngine::Next ConnectionEngine::step_negotiate() {
  // memcached's try_read_command_negotiate: the first byte of input (there is some, in
  // parse_cmd) chooses the handler. Its on_open runs now, before on_input sees that input.
  if (!choose_handler(static_cast<unsigned char>(rbuf_.unparsed()[0]) == binary_magic)) {
    set_close_reason(make_error_code(boost::system::errc::not_enough_memory));
    set_state(ConnState::closing);
    return Next::go_on;
  }
  open_handler();
  // Refused in on_open: new_cmd sends what on_open queued, then closes.
  if (closing_ != Closing::no && state() == ConnState::parse_cmd) set_state(ConnState::new_cmd);
  return Next::go_on;
}

bool ConnectionEngine::begin_datagram() {
  // A datagram is in the read buffer, alone. Its frame header is checked and kept for the
  // reply's headers; the payload's first byte chooses the handler on a negotiating listener.
  DatagramPeer& d = *dgram_;
  const std::size_t header = d.header_size();
  const std::span<const char> in = rbuf_.unparsed();
  if (in.size() <= header) {  // no payload (memcached: "res > 8")
    rbuf_.consume(in.size());
    return false;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(in.data());
  if (header != 0) {
    if (!d.framing->accept({bytes, header})) {
      rbuf_.consume(in.size());
      return false;
    }
    std::memcpy(d.header, bytes, header);
    rbuf_.consume(header);
  }
  d.total = d.sequence = 0;
  if (negotiates_) {
    const bool binary = bytes[header] == binary_magic;
    const bool made = handlers_[binary ? 1 : 0] != nullptr;
    if (!choose_handler(binary)) {
      rbuf_.consume(rbuf_.size());
      return false;
    }
    if (!made) open_handler();
  }
  return true;
}

void ConnectionEngine::drop_datagram_request() {
  // A request whose body is not all in its datagram cannot be completed (the next datagram
  // is another request): the rest of the datagram is dropped, and the handler drops what it
  // holds for the request as for a close, then serves the next datagram as a new client.
  rbuf_.consume(rbuf_.size());
  try {
    handler_->on_close(facade_, make_error_code(errc::datagram_truncated));
  } catch (...) {
  }
  open_handler();
  if (state() == ConnState::closing) set_state(ConnState::new_cmd);  // on_open threw: the listener goes on
}

ConnectionEngine::Next ConnectionEngine::step_nread() {
  // A body collected in the read buffer (Action::read_body).
  if (rbuf_.size() >= body_size_) {
    deliver_body();
    return Next::go_on;
  }
  if (rbuf_.capacity() < body_size_ && !grow_read_buffer(body_size_)) {
    set_close_reason(make_error_code(boost::system::errc::not_enough_memory));
    set_state(ConnState::closing);
    return Next::go_on;
  }
  rbuf_.compact();
  return after_body_read(read_more());
}

ConnectionEngine::Next ConnectionEngine::step_nread_into() {
  // A body read straight into the handler's memory (Action::read_body_into).
  if (body_done_ < body_size_) {
    std::size_t got = 0;
    const Io r = read_into({body_dest_ + body_done_, body_size_ - body_done_}, got);
    if (r != Io::done) return after_body_read(r);
    body_done_ += got;
    if (body_done_ < body_size_) return Next::go_on;
  }
  deliver_body();
  return Next::go_on;
}

ConnectionEngine::Next ConnectionEngine::step_swallow() {
  const std::size_t drop = std::min(rbuf_.size(), body_size_ - body_done_);
  rbuf_.consume(drop);
  body_done_ += drop;
  if (body_done_ == body_size_) {
    body_size_ = body_done_ = 0;
    set_state(closing_ == Closing::lingering ? ConnState::closing : ConnState::new_cmd);
    return Next::go_on;
  }
  return after_body_read(read_more());  // the buffer is empty here: read into it and drop
}

ConnectionEngine::Next ConnectionEngine::after_body_read(Io r) {
  if (r == Io::again) return wait_for_body() ? Next::stop : Next::go_on;
  if (r != Io::done) set_state(ConnState::closing);
  return Next::go_on;
}

ConnectionEngine::Next ConnectionEngine::step_write() {
  if (ring_send()) {
    op_pending_ = true;  // on_sent() goes on from here once this wake-up's replies are out
    return Next::stop;
  }
  const Io r = transmit();
  if (r == Io::again) {  // transmit() cleared out_ready_: the next edge will come
    start_wait(Wait::write);
    return Next::stop;
  }
  if (r != Io::done) {
    set_state(ConnState::closing);
    return Next::go_on;
  }
  finish_write();
  return Next::go_on;
}

ConnectionEngine::Next ConnectionEngine::step_closing() {
  if (start_linger()) return Next::go_on;
  close_now();
  return Next::stop;
}

// --- What the handler asked for -----------------------------------------------------

void ConnectionEngine::apply(const Action& action) {
  if (action.kind() == Action::Kind::need_more) {
    need_more_input();
    return;
  }
  if (action.consumed_bytes() > rbuf_.size()) {
    logf(worker_.logger(), 1, "<%d handler consumed %zu bytes of %zu", fd_, action.consumed_bytes(), rbuf_.size());
    set_close_reason(make_error_code(errc::bad_action));
    set_state(ConnState::closing);
    return;
  }
  rbuf_.consume(action.consumed_bytes());
  if (state() == ConnState::parse_cmd) ++requests_in_event_;  // a body's on_body is the same request
  take_transition(action, state_for(action));
}

ConnState ConnectionEngine::state_for(const Action& action) {
  // The state an Action leads to, with the body progress it sets up.
  switch (action.kind()) {
    case Action::Kind::need_more:
    case Action::Kind::consumed:
    case Action::Kind::defer:  // the holds it took keep the reply's place
      return ConnState::new_cmd;
    case Action::Kind::read_body:
      if (dgram_ != nullptr && action.body_bytes() > rbuf_.size()) {
        drop_datagram_request();
        return ConnState::new_cmd;
      }
      if (action.body_bytes() > worker_.options().read_buffer_limit) {
        set_close_reason(make_error_code(errc::input_too_large));
        return ConnState::closing;
      }
      body_dest_ = nullptr;
      body_size_ = action.body_bytes();
      body_done_ = 0;
      return ConnState::nread;
    case Action::Kind::read_body_into: {
      const std::span<char> dest = action.body_destination();
      if (dgram_ != nullptr && dest.size() > rbuf_.size()) {
        drop_datagram_request();
        return ConnState::new_cmd;
      }
      body_dest_ = dest.data();
      body_size_ = dest.size();
      body_done_ = std::min(rbuf_.size(), body_size_);
      if (body_done_ != 0) std::memcpy(body_dest_, rbuf_.unparsed().data(), body_done_);
      rbuf_.consume(body_done_);
      return ConnState::nread;
    }
    case Action::Kind::swallow:
      if (dgram_ != nullptr && action.body_bytes() > rbuf_.size()) {
        rbuf_.consume(rbuf_.size());  // swallowing past the datagram: the rest of it
        return ConnState::new_cmd;
      }
      body_size_ = action.body_bytes();
      body_done_ = 0;
      return ConnState::swallow;
    case Action::Kind::close:
      set_close_reason(make_error_code(errc::protocol_close));
      return ConnState::closing;
    case Action::Kind::write_and_close:
      set_close_reason(make_error_code(errc::protocol_close));
      if (deferred_count_ != 0) {  // close once the deferred replies are sent
        closing_ = Closing::flush;
        return ConnState::new_cmd;
      }
      after_write_ = ConnState::closing;
      return has_output() ? ConnState::mwrite : ConnState::closing;
  }
  set_close_reason(make_error_code(errc::bad_action));
  return ConnState::closing;
}

void ConnectionEngine::take_transition(const Action& action, ConnState proposed) {
  // ProtocolHandler::transition may keep `proposed`, close, or flush after every request.
  ConnState chosen = proposed;
  try {
    chosen = handler_->transition(facade_, state(), action, proposed);
  } catch (...) {
    chosen = ConnState::closing;
  }
  if (chosen == ConnState::mwrite && proposed == ConnState::new_cmd) {
    if (has_output()) {
      flush_then(ConnState::new_cmd);
      return;
    }
    chosen = proposed;
  } else if (chosen != proposed && chosen != ConnState::closing) {
    logf(worker_.logger(), 1, "<%d transition() chose %s after %s; keeping %s", fd_, to_string(chosen).data(),
         to_string(state()).data(), to_string(proposed).data());
    chosen = proposed;
  }
  if (chosen == ConnState::closing) set_close_reason(make_error_code(errc::protocol_close));  // an override's close
  if (chosen == ConnState::mwrite) {
    flush_then(after_write_);
    return;
  }
  set_state(chosen);
}

void ConnectionEngine::need_more_input() {
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
          set_close_reason(make_error_code(boost::system::errc::not_enough_memory));
          set_state(ConnState::closing);
          return;
        }
      } else {
        Action action = guarded([&] { return handler_->on_input_too_large(facade_); });
        incomplete_ = false;
        if (action.kind() == Action::Kind::need_more) action = Action::close();
        if (action.kind() == Action::Kind::close || action.kind() == Action::Kind::write_and_close) {
          set_close_reason(make_error_code(errc::input_too_large));
        }
        apply(action);
        return;
      }
    }
  }
  set_state(ConnState::new_cmd);
}

void ConnectionEngine::deliver_body() {
  const bool buffered = body_dest_ == nullptr;
  const std::span<char> body = buffered
      ? std::span<char>(const_cast<char*>(rbuf_.unparsed().data()), body_size_)
      : std::span<char>(body_dest_, body_size_);
  const Action action = guarded([&] { return handler_->on_body(facade_, body); });
  if (buffered) rbuf_.consume(body_size_);
  body_dest_ = nullptr;
  body_size_ = body_done_ = 0;
  apply(action);
}

// --- Waiting, resuming, closing ------------------------------------------------------

bool ConnectionEngine::wait_for_body() {
  // Replies to earlier requests go out before waiting for the rest of a body, so a
  // client that waits for them before sending more is never stalled.
  if (has_output()) {
    flush_then(state());
    return false;
  }
  if (in_ready_) return false;  // read again first
  start_wait(Wait::read);
  return true;
}

void ConnectionEngine::flush_then(ConnState after) {
  after_write_ = after;
  set_state(out_->segment_count() > 1 ? ConnState::mwrite : ConnState::write);
}

void ConnectionEngine::start_wait(Wait what) {
  op_pending_ = true;
  poll_wait_ = what;
  // The one clock read write_stall_timeout costs: a write wait that outlives it is a stall
  // (Worker::sweep); a wait that ends with progress and starts again is stamped again.
  if (what == Wait::write && worker_.options().write_stall_timeout.count() > 0) write_wait_since_ = coarse_now();
}

void ConnectionEngine::yield() {
  worker_.counters()[&ConnectionStats::conn_yields].add();
  op_pending_ = true;
  auto resume = [this] { on_wait_done({}); };
  boost::asio::post(worker_.io(), SlotBound<decltype(resume)>(slot_, resume));
  worker_.poller().note_post();
}

void ConnectionEngine::on_wait_done(const boost::system::error_code& ec) {
  op_pending_ = false;
  if (state() == ConnState::closing) {
    worker_.release(*this);  // closed while the operation was outstanding; nothing touches this after
    return;
  }
  requests_in_event_ = 0;  // a new event: a fresh fairness budget
  resume(ec);
}

void ConnectionEngine::finish_write() {
  return_output_if_idle();
  // After a write that ends in a close, the close is graceful: the replies must arrive.
  if (after_write_ == ConnState::closing && closing_ == Closing::no) closing_ = Closing::flush;
  set_state(after_write_);
  after_write_ = ConnState::new_cmd;
}

void ConnectionEngine::resume(const boost::system::error_code& ec) {
  if (closing_ == Closing::abort || closing_ == Closing::flush) {  // kicked while waiting
    if (closing_ == Closing::abort || (!has_output() && deferred_count_ == 0)) {
      set_state(ConnState::closing);
    } else if (state() == ConnState::write || state() == ConnState::mwrite) {
      after_write_ = deferred_count_ != 0 ? ConnState::new_cmd : ConnState::closing;
    } else {
      set_state(ConnState::new_cmd);  // flushes, waits for the deferred replies, closes
    }
  } else if (ec) {
    set_close_reason(ec);
    set_state(ConnState::closing);
  }
  drive();
}

void ConnectionEngine::on_deferred_done(DeferredRecord& r) noexcept {
  if (r.prev != nullptr) r.prev->next = r.next;
  if (r.next != nullptr) r.next->prev = r.prev;
  if (deferred_head_ == &r) deferred_head_ = r.next;
  --deferred_count_;
  if (r.by_ref) {
    out_->fill(r.ticket, r.ref, r.ref_owner);
    worker_.deferred().release(r);
  } else {
    auto release = [](void* record) noexcept {
      auto* done = static_cast<DeferredRecord*>(record);
      done->queue->release(*done);
    };
    out_->fill(r.ticket, r.bytes, BufferOwner{release, &r});
  }
  if (busy_) return;  // the machine is running (a handler gave it): it sends what is ready
  if (state() == ConnState::io_queue) {
    set_state(ConnState::new_cmd);
  } else if (poll_wait_ == Wait::read && has_output() && closing_ == Closing::no) {
    // Parked waiting for input: send the reply now, then wait again.
    poll_wait_ = Wait::none;
    op_pending_ = false;
    flush_then(state() == ConnState::read ? ConnState::waiting : state());
  } else {
    return;  // a write, a yield or a ring send is under way and picks it up
  }
  requests_in_event_ = 0;
  drive();
}

bool ConnectionEngine::start_linger() {
  // Closing a socket with unread input makes the kernel send RST, and the peer then loses
  // replies it has not read yet. After a graceful flush, send FIN instead and discard input
  // until the peer closes or the worker's sweep ends it (linger_timeout from now, however
  // much the peer keeps sending), as nginx's lingering_time.
  if (closing_ != Closing::flush || is_datagram()) return false;
  closing_ = Closing::lingering;
  if (::shutdown(fd_, SHUT_WR) != 0) return false;
  rbuf_.consume(rbuf_.size());
  body_size_ = SIZE_MAX;
  body_done_ = 0;
  touch_active();
  set_state(ConnState::swallow);
  return true;
}

void ConnectionEngine::close_now() {
  cancel_deferred();
  if (handler_ != nullptr) {  // a negotiating client that sent nothing reached no handler
    try {
      handler_->on_close(facade_, close_reason_);
    } catch (...) {
    }
    if (negotiates_) handler_ = nullptr;  // the next client's first byte chooses again
  }
  if (dgram_ == nullptr) worker_.counters()[close_counter(close_reason_)].add();
  if (worker_.logger().enabled(2)) {
    logf(worker_.logger(), 2, "<%d connection closed: %s", fd_, close_reason_.message().c_str());
  }
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

}  // namespace connkit::detail
