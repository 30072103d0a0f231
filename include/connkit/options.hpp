#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <connkit/datagram_framing.hpp>
#include <connkit/log.hpp>

namespace connkit {

class ProtocolHandler;

/// The kind of socket a listener opens.
enum class Transport : std::uint8_t {
  tcp,          ///< TCP on an IPv4 or IPv6 address
  unix_stream,  ///< a UNIX-domain stream socket at a path
  udp,          ///< UDP: each datagram is one input; its replies go back to its sender, from the address it came to
};

/// Makes a protocol handler for one pooled connection struct. It is called only when a
/// struct needs a handler of its kind for the first time (a new struct, or a negotiating
/// struct's first client of that protocol); the handler is then kept and reused with its
/// struct (on_close(), later on_open()). Called on the struct's worker thread, and once by
/// Server::start() to read a pinned listener's protocol_name() when its `name` is empty.
/// Throwing std::bad_alloc (or anything) refuses that one connection; the server goes on.
using HandlerFactory = std::function<std::unique_ptr<ProtocolHandler>()>;

/// One listening socket and the protocol it speaks.
struct ListenerOptions {
  Transport transport = Transport::tcp;  ///< what to open
  std::string host = "127.0.0.1";        ///< tcp/udp: address or host name; localhost unless told otherwise
  std::uint16_t port = 0;                ///< tcp/udp: port; 0 picks a free one (see Server::port())
  std::string path;                      ///< unix_stream: the socket's path (a stale socket there is replaced)
  unsigned unix_mode = 0700;             ///< unix_stream: the socket file's mode (memcached's -a)
  int backlog = 1024;                    ///< listen() backlog (memcached's -b)
  bool reuse_port = false;               ///< tcp: one SO_REUSEPORT acceptor per worker instead of one shared
  /// Shown in "<fd server listening (name)". Empty (the default): memcached's name for the
  /// listener's kind, filled in by Server::start(): "auto-negotiate" for a negotiating
  /// listener, else the protocol_name() of a handler start() makes once to ask.
  std::string name;
  /// Sent to a client refused by max_connections before it is closed.
  std::string reject_message = "ERROR Too many open connections\r\n";
  /// DeferredReply handles one connection may hold before its input is no longer parsed
  /// (until one completes). At least 1.
  unsigned max_deferred = 16;
  /// Socket options of accepted connections (tcp; buffer sizes for unix_stream too).
  bool tcp_nodelay = true;               ///< TCP_NODELAY: replies leave at once (memcached sets it)
  bool keepalive = false;                ///< SO_KEEPALIVE: the kernel probes idle peers
  std::chrono::seconds keepalive_idle{0};      ///< TCP_KEEPIDLE; 0 = the kernel's default
  std::chrono::seconds keepalive_interval{0};  ///< TCP_KEEPINTVL; 0 = the kernel's default
  unsigned keepalive_count = 0;          ///< TCP_KEEPCNT; 0 = the kernel's default
  int receive_buffer = 0;                ///< SO_RCVBUF in bytes; 0 = the kernel's default
  int send_buffer = 0;                   ///< SO_SNDBUF in bytes; 0 = the kernel's default
  /// Connections start unauthenticated: Connection::authenticated() is false until the
  /// handler records a successful attempt with Connection::record_auth(true). The library
  /// gates nothing itself; the handler decides what an unauthenticated client may do
  /// (memcached's -S and -Y). Stream listeners only. See docs/protocol-handlers.md, section 14.
  bool require_auth = false;
  /// Makes this listener's protocol handlers: for every connection, or, with binary_handler
  /// set too, for each connection whose first byte is not 0x80.
  HandlerFactory handler;
  /// Optional: makes handlers for connections whose first byte is 0x80, memcached's binary
  /// protocol magic. With `handler` set too, the listener negotiates: the first byte a
  /// connection receives chooses its handler, as memcached's `-B auto`
  /// (docs/protocol-handlers.md, "Negotiating listeners"); on a udp listener, the first
  /// payload byte of each datagram. Alone, it pins the listener to the handlers it makes.
  /// At least one of the two must be set.
  HandlerFactory binary_handler;
  /// udp only: the header framing each datagram (memcached's 8-byte UDP header), and the
  /// size replies are cut at. Empty: no header; a reply leaves in datagrams of up to
  /// max_udp_payload bytes. Shared by every worker (docs/protocol-handlers.md, "UDP").
  std::shared_ptr<const DatagramFraming> framing;
};

/// Everything a Server is built from. Plain values; validated by Server::start().
struct ServerOptions {
  std::vector<ListenerOptions> listeners;  ///< at least one
  unsigned threads = 4;                    ///< worker threads (memcached's -t); ignored on a host io_context
  std::size_t max_connections = 1024;      ///< open connections at most (memcached's -c)
  std::chrono::milliseconds idle_timeout{0};  ///< close connections idle this long waiting for input; 0 = never
  unsigned reqs_per_event = 20;            ///< requests from one connection before it yields (memcached's -R)
  std::size_t read_buffer_size = 16384;    ///< the pooled read buffer a busy connection borrows
  std::size_t read_buffer_limit = 1 << 20; ///< one request may grow the read buffer up to this
  std::size_t write_buffer_size = 2048;    ///< initial capacity of the formatted-reply buffer
  std::size_t output_high_water = 1 << 20; ///< queued reply bytes that make the connection write before parsing more
  std::chrono::milliseconds stop_timeout{5000};  ///< graceful stop: how long queued replies may take to flush
  /// Close a connection whose queued replies could not be sent at all for this long (the
  /// peer stopped reading); counted in write_stall_kicks. 0 = never (memcached's way).
  std::chrono::milliseconds write_stall_timeout{0};
  bool io_uring = true;                    ///< send each wake-up's replies with one io_uring_enter where the kernel allows
  /// Owned worker threads block in their own epoll set, one epoll_wait per wake-up
  /// (docs/architecture.md, the worker loop); false, or where Asio's reactor cannot share
  /// the set, Asio's run() drives them as on a host io_context. Ignored on a host io_context.
  bool own_loop = true;
  int verbosity = 0;                       ///< at start: 0 quiet, 1 = -v, 2 = -vv, 3 = -vvv (Server::set_verbosity())
  LogSink log;                             ///< where log lines go; empty = nowhere
};

}  // namespace connkit
