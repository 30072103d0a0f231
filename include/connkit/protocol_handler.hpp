#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include <boost/system/error_code.hpp>

#include <connkit/conn_state.hpp>

namespace connkit {

class Connection;

/// What a protocol handler asks the connection to do next. The library maps it to the
/// next ConnState in one place (see ProtocolHandler::transition); handlers never set states.
class Action {
 public:
  enum class Kind : unsigned char {
    need_more,        ///< no complete request yet: read more input
    consumed,         ///< a request of N bytes was handled
    read_body,        ///< consumed N, then read a body of M bytes into the read buffer (nread)
    read_body_into,   ///< consumed N, then read a body straight into caller memory (nread)
    swallow,          ///< consumed N, then discard M bytes of input (swallow)
    close,            ///< close now, dropping queued replies
    write_and_close,  ///< consumed N, send what is queued, then close (memcached's write_and_go)
    defer,            ///< consumed N; the reply comes later through Connection::defer() handles
  };

  /// The input holds no complete request.
  static constexpr Action need_more() noexcept { return {Kind::need_more, 0, 0, nullptr}; }
  /// A request of `n` bytes was handled; its replies (if any) are queued.
  static constexpr Action consumed(std::size_t n) noexcept { return {Kind::consumed, n, 0, nullptr}; }
  /// Consume `n`, then collect `body` more bytes contiguously in the read buffer and call
  /// on_body() with them (bounded by read_buffer_limit).
  static constexpr Action read_body(std::size_t n, std::size_t body) noexcept {
    return {Kind::read_body, n, body, nullptr};
  }
  /// Consume `n`, then fill `dest` with the next input bytes (read straight from the socket
  /// once the buffer is used up) and call on_body(dest). `dest` must stay valid until then.
  static constexpr Action read_body_into(std::size_t n, std::span<char> dest) noexcept {
    return {Kind::read_body_into, n, dest.size(), dest.data()};
  }
  /// Consume `n`, then discard the next `body` bytes of input.
  static constexpr Action swallow(std::size_t n, std::size_t body) noexcept {
    return {Kind::swallow, n, body, nullptr};
  }
  /// Close the connection now; queued replies are dropped.
  static constexpr Action close() noexcept { return {Kind::close, 0, 0, nullptr}; }
  /// Consume `n`, flush the queued replies, then close.
  static constexpr Action write_and_close(std::size_t n = 0) noexcept {
    return {Kind::write_and_close, n, 0, nullptr};
  }

  /// A request of `n` bytes was handled, and (part of) its reply comes later: the handler
  /// took a DeferredReply with Connection::defer() and completes it, from any thread, when
  /// its backend answers. Later requests are parsed and answered meanwhile; their replies
  /// wait their turn. Past ListenerOptions::max_deferred handles in flight, input is not
  /// parsed until one completes (the connection shows ConnState::io_queue).
  static constexpr Action defer(std::size_t n) noexcept { return {Kind::defer, n, 0, nullptr}; }

  /// Which request this is.
  constexpr Kind kind() const noexcept { return kind_; }
  /// Input bytes the handler consumed.
  constexpr std::size_t consumed_bytes() const noexcept { return consumed_; }
  /// Body bytes to read or swallow.
  constexpr std::size_t body_bytes() const noexcept { return body_; }
  /// Destination of read_body_into.
  constexpr std::span<char> body_destination() const noexcept { return {dest_, dest_ ? body_ : 0}; }

 private:
  constexpr Action(Kind k, std::size_t consumed, std::size_t body, char* dest) noexcept
      : kind_(k), consumed_(consumed), body_(body), dest_(dest) {}
  Kind kind_;
  std::size_t consumed_;
  std::size_t body_;
  char* dest_;
};

/// Subclass to implement a protocol. Each pooled connection has its own handler instance,
/// made by the listener's HandlerFactory, so per-connection protocol state lives in the
/// subclass's members. When the connection closes the instance is kept with the pooled
/// struct and reused: on_close() must reset what on_open() expects to find fresh. On a
/// negotiating listener (ListenerOptions::binary_handler) a struct keeps at most one handler
/// of each kind, made the first time a client of that protocol uses the struct; only the
/// chosen one sees the connection.
/// Every call runs on the connection's worker thread; none may block.
class ProtocolHandler {
 public:
  virtual ~ProtocolHandler() = default;

  /// A client connected (or a pooled struct was reused for a new one). Replies queued here
  /// (a greeting) are sent before any input is read. Connection::refuse() turns the client
  /// away (counted in refused_connections). On a negotiating listener the protocol is not
  /// known until input arrives: on_open() runs on the handler the first byte chose, once
  /// that input is buffered and before on_input() sees it (a greeting then goes out ahead
  /// of the first reply); a client that closes before sending a byte reaches no handler.
  virtual void on_open(Connection& conn) { (void)conn; }

  /// Parse at most one request from the start of `input` and queue its replies on `conn`.
  /// Return Action::need_more() when `input` holds no complete request.
  virtual Action on_input(Connection& conn, std::span<const char> input) = 0;

  /// A body asked for with read_body / read_body_into has arrived in full.
  /// For read_body, `body` is in the read buffer and is consumed after this call.
  virtual Action on_body(Connection& conn, std::span<char> body) {
    (void)conn;
    (void)body;
    return Action::close();
  }

  /// The unparsed input (all of conn's buffered input) reached read_buffer_limit without a
  /// complete request. Queue an error and return write_and_close() (memcached's way) or
  /// close(); need_more() is taken as close().
  virtual Action on_input_too_large(Connection& conn) {
    (void)conn;
    return Action::close();
  }

  /// A graceful stop (Server::stop()) began. A reply queued here is the connection's last:
  /// it is sent after the replies already queued and deferred, then the connection closes.
  virtual void on_stop(Connection& conn) { (void)conn; }

  /// The connection is about to return to the pool; drop per-connection state. Called on
  /// the handler on_open() ran on, if it ran (even if it threw). Its outstanding
  /// DeferredReply handles are already cancelled (completing them returns false).
  virtual void on_close(Connection& conn, boost::system::error_code reason) noexcept {
    (void)conn;
    (void)reason;
  }

  /// Protocol name for logs ("<17 new ascii client connection.", "17: Client using the ascii
  /// protocol") and for a pinned listener's default name ("<16 server listening (ascii)").
  virtual std::string_view protocol_name() const noexcept { return "custom"; }

  /// Overrides the state the library chose (`proposed`) for `action` taken in `from`.
  /// Allowed answers: `proposed`; `ConnState::closing`; or, where `proposed` is new_cmd,
  /// `ConnState::mwrite` to flush replies after every request instead of batching them.
  /// Anything else is ignored (and logged at verbosity 1).
  virtual ConnState transition(const Connection& conn, ConnState from, const Action& action,
                               ConnState proposed) {
    (void)conn;
    (void)from;
    (void)action;
    return proposed;
  }
};

}  // namespace connkit
