// Connection control over real sockets: socket options, refuse(), ids and
// close_connection(), on_stop(), per-reason close counters and the close line, and
// write_stall_timeout.
#include <connkit/connkit.hpp>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include "support/client.hpp"
#include "support/log_capture.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using namespace std::chrono_literals;

namespace {

/// What an accepted socket's options read as, on the server's side (-1: not readable).
struct SocketOptions {
  int nodelay = -1, keepalive = -1, idle = -1, interval = -1, count = -1, rcvbuf = -1, sndbuf = -1;
};

int read_option(int fd, int level, int name) {
  int value = 0;
  socklen_t size = sizeof value;
  return ::getsockopt(fd, level, name, &value, &size) == 0 ? value : -1;
}

/// What the tests set up and observe; shared by every handler of one server.
struct Shared {
  std::mutex mutex;
  std::vector<SocketOptions> opened;  // one per on_open
  std::atomic<int> refuse_next{0};    // on_open refuses while positive
  std::string refuse_reply;
  std::optional<std::string> stop_reply;  // on_stop queues it
  bool stop_throws = false;
  std::string big;  // BIG's reply, borrowed (outlives the server)
};

/// Lines: PING -> PONG; ID -> the connection's id in 20 digits; BIG -> `big` unread by the
/// tests; REFUSE -> PONG, then refuse("BYE"); CLOSE -> Action::close().
class ControlHandler final : public connkit::ProtocolHandler {
 public:
  explicit ControlHandler(Shared& shared) : shared_(shared) {}

  void on_open(connkit::Connection& conn) override {
    const int fd = conn.native_handle();
    SocketOptions o;
    o.nodelay = read_option(fd, IPPROTO_TCP, TCP_NODELAY);
    o.keepalive = read_option(fd, SOL_SOCKET, SO_KEEPALIVE);
    o.idle = read_option(fd, IPPROTO_TCP, TCP_KEEPIDLE);
    o.interval = read_option(fd, IPPROTO_TCP, TCP_KEEPINTVL);
    o.count = read_option(fd, IPPROTO_TCP, TCP_KEEPCNT);
    o.rcvbuf = read_option(fd, SOL_SOCKET, SO_RCVBUF);
    o.sndbuf = read_option(fd, SOL_SOCKET, SO_SNDBUF);
    {
      std::lock_guard<std::mutex> lock(shared_.mutex);
      shared_.opened.push_back(o);
    }
    if (shared_.refuse_next.fetch_sub(1) > 0) conn.refuse(shared_.refuse_reply);
  }

  connkit::Action on_input(connkit::Connection& conn, std::span<const char> input) override {
    const std::string_view in(input.data(), input.size());
    const std::size_t end = in.find("\r\n");
    if (end == std::string_view::npos) return connkit::Action::need_more();
    const std::string_view line = in.substr(0, end);
    const std::size_t used = end + 2;
    if (line == "PING") {
      conn.reply("PONG\r\n");
    } else if (line == "ID") {
      char text[32];
      const int n = std::snprintf(text, sizeof text, "%020llu\r\n", static_cast<unsigned long long>(conn.id()));
      conn.reply({text, static_cast<std::size_t>(n)});
    } else if (line == "BIG") {
      conn.reply_ref(shared_.big);
    } else if (line == "REFUSE") {
      conn.reply("PONG\r\n");
      conn.refuse("BYE\r\n");
    } else if (line == "CLOSE") {
      return connkit::Action::close();
    } else {
      conn.reply("ERROR\r\n");
    }
    return connkit::Action::consumed(used);
  }

  void on_stop(connkit::Connection& conn) override {
    if (shared_.stop_throws) throw std::runtime_error("on_stop");
    if (shared_.stop_reply) conn.reply(*shared_.stop_reply);
  }

 private:
  Shared& shared_;
};

connkit::ServerOptions control_options(Shared& shared, unsigned threads = 1) {
  connkit::ServerOptions o;
  o.threads = threads;
  connkit::ListenerOptions l;
  l.host = "127.0.0.1";
  l.port = 0;
  l.handler = [&shared] { return std::make_unique<ControlHandler>(shared); };
  o.listeners.push_back(std::move(l));
  return o;
}

SocketOptions opened(Shared& shared, std::size_t i) {
  std::lock_guard<std::mutex> lock(shared.mutex);
  return shared.opened.at(i);
}

/// The first open connection Server::connections() lists (a closing one if none).
connkit::ConnectionInfo first_connection(const connkit::Server& server) {
  for (const connkit::ConnectionInfo& info : server.connections()) {
    if (info.state != connkit::ConnState::listening) return info;
  }
  connkit::ConnectionInfo none;
  none.state = connkit::ConnState::closing;
  return none;
}

/// Log lines up to -vv into `capture`.
void log_verbosely(connkit::ServerOptions& options, connkit::test::LogCapture& capture) {
  options.verbosity = 2;
  options.log = capture.sink();
}

std::uint64_t id_of(Client& c) { return std::stoull(c.roundtrip("ID\r\n", 22)); }

/// The per-reason close counters summed: each close is counted in exactly one.
std::uint64_t closes(const connkit::ConnectionStats& s) {
  return s.closed_peer + s.closed_error + s.closed_protocol + s.closed_idle + s.closed_stopping +
         s.closed_by_server + s.closed_write_stall;
}

}  // namespace

TEST_CASE("accepted sockets have the default socket options: TCP_NODELAY on, no keep-alive", "[loopback][control]") {
  Shared shared;
  connkit::Server server(control_options(shared));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  const SocketOptions o = opened(shared, 0);
  CHECK(o.nodelay == 1);
  CHECK(o.keepalive == 0);
}

TEST_CASE("ListenerOptions' socket options reach every accepted socket", "[loopback][control]") {
  Shared shared;
  auto options = control_options(shared);
  connkit::ListenerOptions& l = options.listeners[0];
  l.tcp_nodelay = false;
  l.keepalive = true;
  l.keepalive_idle = 77s;
  l.keepalive_interval = 11s;
  l.keepalive_count = 5;
  l.receive_buffer = 48 * 1024;
  l.send_buffer = 40 * 1024;
  connkit::Server server(std::move(options));
  server.start();
  for (std::size_t i = 0; i < 2; ++i) {
    Client c = Client::tcp(server.port());
    REQUIRE(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
    const SocketOptions o = opened(shared, i);
    CHECK(o.nodelay == 0);
    CHECK(o.keepalive == 1);
    CHECK(o.idle == 77);
    CHECK(o.interval == 11);
    CHECK(o.count == 5);
    CHECK(o.rcvbuf == 2 * 48 * 1024);  // Linux doubles what it is given, for its overhead
    CHECK(o.sndbuf == 2 * 40 * 1024);
  }
}

TEST_CASE("a UNIX stream listener sets the buffer sizes on each accepted socket", "[loopback][control]") {
  const std::string path = "/tmp/connkit-control-" + std::to_string(::getpid()) + ".sock";
  Shared shared;
  auto options = control_options(shared);
  options.listeners[0].transport = connkit::Transport::unix_stream;
  options.listeners[0].path = path;
  options.listeners[0].receive_buffer = 36 * 1024;
  options.listeners[0].send_buffer = 44 * 1024;
  connkit::Server server(std::move(options));
  server.start();
  Client c = Client::unix_stream(path);
  REQUIRE(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  const SocketOptions o = opened(shared, 0);
  CHECK(o.rcvbuf == 2 * 36 * 1024);
  CHECK(o.sndbuf == 2 * 44 * 1024);
  CHECK(o.nodelay == -1);  // no TCP options on a UNIX socket
}

TEST_CASE("unusable connection-control options are invalid_option, naming the option", "[control][errors]") {
  Shared shared;
  auto fails_with = [&](auto change, const std::string& name) {
    auto options = control_options(shared);
    change(options);
    connkit::Server server(std::move(options));
    try {
      server.start();
      FAIL("started with a bad " + name);
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == connkit::errc::invalid_option);
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
  };
  fails_with([](connkit::ServerOptions& o) { o.listeners[0].receive_buffer = -1; }, "listeners[0].receive_buffer");
  fails_with([](connkit::ServerOptions& o) { o.listeners[0].send_buffer = -4096; }, "listeners[0].send_buffer");
  fails_with([](connkit::ServerOptions& o) { o.listeners[0].keepalive_count = 128; }, "listeners[0].keepalive_count");
  fails_with([](connkit::ServerOptions& o) { o.listeners[0].keepalive_idle = -1s; }, "listeners[0].keepalive_idle");
  fails_with([](connkit::ServerOptions& o) { o.listeners[0].keepalive_interval = 40000s; },
             "listeners[0].keepalive_interval");
  fails_with([](connkit::ServerOptions& o) { o.listeners[0].max_deferred = 0; }, "listeners[0].max_deferred");
  fails_with([](connkit::ServerOptions& o) { o.write_stall_timeout = -1ms; }, "write_stall_timeout");
}

TEST_CASE("refuse() in on_open sends the reply, then EOF, and other clients are served", "[loopback][control]") {
  Shared shared;
  shared.refuse_next = 1;
  shared.refuse_reply = "SERVER_ERROR go away\r\n";
  connkit::Server server(control_options(shared));
  server.start();
  Client refused = Client::tcp(server.port());
  std::string got;
  CHECK(refused.read_to_eof(got));
  CHECK(got == "SERVER_ERROR go away\r\n");
  refused.close();  // ends the lingering close at once
  Client served = Client::tcp(server.port());
  CHECK(served.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(eventually([&] { return server.stats().total.curr_conns == 1; }));
  const auto s = server.stats().total;
  CHECK(s.refused_conns == 1);
  CHECK(s.closed_by_server == 1);
  CHECK(closes(s) == 1);

  shared.refuse_reply.clear();  // before refuse_next, which publishes it to the worker
  shared.refuse_next = 1;
  Client silent = Client::tcp(server.port());
  got.clear();
  CHECK(silent.read_to_eof(got));
  CHECK(got.empty());
  silent.close();
  CHECK(eventually([&] { return server.stats().total.closed_by_server == 2; }));
  CHECK(server.stats().total.refused_conns == 2);
  CHECK(served.roundtrip("PING\r\n", 6) == "PONG\r\n");
}

TEST_CASE("refuse() in on_input sends what is queued and the reply, then EOF", "[loopback][control]") {
  Shared shared;
  connkit::Server server(control_options(shared));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.send_all("PING\r\nREFUSE\r\nPING\r\n"));  // the request after REFUSE is not answered
  std::string got;
  CHECK(c.read_to_eof(got));
  CHECK(got == "PONG\r\nPONG\r\nBYE\r\n");
  c.close();
  CHECK(eventually([&] { return server.stats().total.closed_by_server == 1; }));
  CHECK(server.stats().total.refused_conns == 1);
}

TEST_CASE("close_connection() closes the client with that id, from another thread", "[loopback][control]") {
  Shared shared;
  connkit::Server server(control_options(shared, 2));
  server.start();
  Client a = Client::tcp(server.port());  // worker 0
  Client b = Client::tcp(server.port());  // worker 1
  const std::uint64_t id_a = id_of(a);
  const std::uint64_t id_b = id_of(b);
  CHECK(id_a != 0);
  CHECK(id_b != 0);
  CHECK(id_a != id_b);
  std::vector<std::uint64_t> listed;
  for (const connkit::ConnectionInfo& info : server.connections()) {
    if (info.state != connkit::ConnState::listening) listed.push_back(info.id);
  }
  CHECK_THAT(listed, Catch::Matchers::UnorderedEquals(std::vector<std::uint64_t>{id_a, id_b}));

  server.close_connection(id_a);
  CHECK(a.wait_closed());
  CHECK(b.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(eventually([&] { return server.stats().total.closed_by_server == 1; }));

  // A pooled struct reused for a new client gets a new id: the old one closes nothing.
  const std::uint64_t structs = server.stats().total.conn_structs;
  Client c = Client::tcp(server.port());  // worker 0 again, on a's struct
  const std::uint64_t id_c = id_of(c);
  CHECK(server.stats().total.conn_structs == structs);
  CHECK(id_c != id_a);
  Client d = Client::tcp(server.port());  // worker 1
  Client e = Client::tcp(server.port());  // worker 0
  const std::uint64_t id_e = id_of(e);
  REQUIRE(d.roundtrip("PING\r\n", 6) == "PONG\r\n");
  server.close_connection(id_a);    // stale: ignored
  server.close_connection(999999);  // never given out: ignored
  server.close_connection(0);       // a listener's row: ignored
  // Posts to one worker run in order: once e is closed, the stale close of a's id ran.
  server.close_connection(id_e);
  CHECK(e.wait_closed());
  CHECK(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(b.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(d.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(eventually([&] { return server.stats().total.curr_conns == 3; }));
  CHECK(server.stats().total.closed_by_server == 2);
}

TEST_CASE("a reply queued in on_stop reaches the client before EOF", "[loopback][control][stop]") {
  Shared shared;
  shared.stop_reply = "SERVER_ERROR shutting down\r\n";
  connkit::Server server(control_options(shared));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  server.stop();
  std::string got;
  CHECK(c.read_to_eof(got));
  CHECK(got == "SERVER_ERROR shutting down\r\n");
  c.close();
  server.join();
  CHECK(server.stats().total.closed_stopping == 1);
}

TEST_CASE("a handler whose on_stop throws is closed", "[loopback][control][stop]") {
  Shared shared;
  shared.stop_throws = true;
  connkit::Server server(control_options(shared));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  server.stop();
  CHECK(c.wait_closed());
  c.close();
  server.join();
  CHECK(server.stats().total.closed_protocol == 1);
  CHECK(server.stats().total.closed_stopping == 0);
}

TEST_CASE("each close is counted once, by its reason", "[loopback][control]") {
  Shared shared;
  auto options = control_options(shared);
  options.idle_timeout = 300ms;
  connkit::Server server(std::move(options));
  server.start();
  auto total = [&] { return server.stats().total; };

  Client peer = Client::tcp(server.port());
  REQUIRE(peer.roundtrip("PING\r\n", 6) == "PONG\r\n");
  peer.close();
  CHECK(eventually([&] { return total().closed_peer == 1; }));

  Client protocol = Client::tcp(server.port());
  REQUIRE(protocol.send_all("CLOSE\r\n"));
  CHECK(protocol.wait_closed());
  CHECK(eventually([&] { return total().closed_protocol == 1; }));

  Client idle = Client::tcp(server.port());
  REQUIRE(idle.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(idle.wait_closed(3000ms));
  CHECK(eventually([&] { return total().closed_idle == 1; }));
  CHECK(total().idle_kicks == 1);

  Client stopped = Client::tcp(server.port());
  REQUIRE(stopped.roundtrip("PING\r\n", 6) == "PONG\r\n");
  server.stop();
  CHECK(stopped.wait_closed());
  stopped.close();  // ends the lingering close
  server.join();
  const auto s = total();
  CHECK(s.closed_stopping == 1);
  CHECK(s.closed_peer == 1);
  CHECK(s.closed_protocol == 1);
  CHECK(s.closed_idle == 1);
  CHECK(closes(s) == s.total_conns);
  CHECK(s.closed_error + s.closed_by_server + s.closed_write_stall == 0);
}

TEST_CASE("the -vv close line names the reason", "[loopback][control][log]") {
  connkit::test::LogCapture capture;
  Shared shared;
  auto options = control_options(shared);
  options.idle_timeout = 200ms;
  log_verbosely(options, capture);
  connkit::Server server(std::move(options));
  server.start();
  Client idle = Client::tcp(server.port());
  REQUIRE(idle.roundtrip("PING\r\n", 6) == "PONG\r\n");
  const int fd = first_connection(server).fd;
  REQUIRE(fd >= 0);
  CHECK(idle.wait_closed(3000ms));
  const std::string line = "<" + std::to_string(fd) + " connection closed: idle timeout";
  CHECK(eventually([&] { return capture.contains(line); }));
}

TEST_CASE("a client that stops reading is closed after write_stall_timeout", "[loopback][control][timeout]") {
  connkit::test::LogCapture capture;
  Shared shared;
  shared.big.assign(16u << 20, 'x');
  auto options = control_options(shared);
  options.write_stall_timeout = 200ms;
  log_verbosely(options, capture);
  connkit::Server server(std::move(options));
  server.start();
  Client stalled = Client::tcp(server.port(), "127.0.0.1", 4096);
  Client other = Client::tcp(server.port());
  const auto since = std::chrono::steady_clock::now();
  REQUIRE(stalled.send_all("BIG\r\n"));  // and never reads
  CHECK(eventually([&] { return server.stats().total.write_stall_kicks == 1; }, 5000ms));
  CHECK(std::chrono::steady_clock::now() - since >= 200ms);
  CHECK(eventually([&] { return server.stats().total.closed_write_stall == 1; }));
  CHECK(eventually([&] { return capture.contains(" connection closed: write stall timeout"); }));
  CHECK(capture.contains(" write stall timeout, closing"));
  CHECK(other.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(eventually([&] { return server.stats().total.curr_conns == 1; }));
}

TEST_CASE("without write_stall_timeout a client that stops reading stays open", "[loopback][control][timeout]") {
  Shared shared;
  shared.big.assign(16u << 20, 'x');
  auto options = control_options(shared);
  options.idle_timeout = 100ms;  // the sweep that would find a stall runs every 25 ms
  connkit::Server server(std::move(options));
  server.start();
  Client stalled = Client::tcp(server.port(), "127.0.0.1", 4096);
  REQUIRE(stalled.send_all("BIG\r\n"));  // and never reads
  auto stalled_state = [&] { return first_connection(server).state; };
  REQUIRE(eventually([&] { return stalled_state() == connkit::ConnState::write; }));
  // Proof that sweeps ran while it was stalled: an idle client opened after it is kicked.
  Client idle = Client::tcp(server.port());
  REQUIRE(idle.roundtrip("PING\r\n", 6) == "PONG\r\n");
  CHECK(idle.wait_closed(3000ms));
  CHECK(eventually([&] { return server.stats().total.idle_kicks == 1; }));
  CHECK(eventually([&] { return server.stats().total.curr_conns == 1; }));
  const auto s = server.stats().total;
  CHECK(s.write_stall_kicks == 0);
  CHECK(s.closed_write_stall == 0);
  CHECK(stalled_state() == connkit::ConnState::write);
}
