// Server behaviour over real sockets: limits, timeouts, fairness, stop, transports, threads.
#include <connkit/server.hpp>
#include <connkit/testing/fault_injection.hpp>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include "support/client.hpp"
#include "support/line_server.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using namespace std::chrono_literals;

TEST_CASE("past max_connections a client gets the rejection line and the others are still served", "[loopback][limits]") {
  auto options = connkit::test::line_options(2);
  options.max_connections = 3;
  connkit::Server server(std::move(options));
  server.start();
  std::vector<Client> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(Client::tcp(server.port()));
    REQUIRE(held.back().roundtrip("PING\r\n", 6) == "PONG\r\n");
  }
  Client over = Client::tcp(server.port());
  std::string got;
  CHECK(over.read_to_eof(got));
  CHECK(got == "ERROR Too many open connections\r\n");
  CHECK(server.stats().total.rejected_conns == 1);
  for (auto& c : held) CHECK(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  held.pop_back();
  REQUIRE(eventually([&] { return server.stats().total.curr_conns == 2; }));
  Client again = Client::tcp(server.port());
  CHECK(again.roundtrip("PING\r\n", 6) == "PONG\r\n");
}

TEST_CASE("an idle connection is closed after idle_timeout and counted", "[loopback][timeout]") {
  auto options = connkit::test::line_options(1);
  options.idle_timeout = 200ms;
  connkit::Server server(std::move(options));
  server.start();
  Client idle = Client::tcp(server.port());
  REQUIRE(idle.roundtrip("PING\r\n", 6) == "PONG\r\n");
  const auto since = std::chrono::steady_clock::now();
  std::string got;
  CHECK(idle.read_to_eof(got, 3000ms));
  const auto waited = std::chrono::steady_clock::now() - since;
  CHECK(waited >= 190ms);
  CHECK(waited < 2000ms);
  CHECK(server.stats().total.idle_kicks == 1);
  Client fresh = Client::tcp(server.port());
  CHECK(fresh.roundtrip("PING\r\n", 6) == "PONG\r\n");
}

TEST_CASE("a flooding client yields while a second client is served before the flood ends", "[loopback][fairness]") {
  auto options = connkit::test::line_options(1);
  options.reqs_per_event = 5;
  connkit::Server server(std::move(options));
  server.start();
  Client flood = Client::tcp(server.port());
  Client other = Client::tcp(server.port());
  REQUIRE(other.roundtrip("PING\r\n", 6) == "PONG\r\n");

  constexpr std::size_t requests = 1000000;
  std::string batch;
  for (int i = 0; i < 1000; ++i) batch += "PING\r\n";
  std::atomic<std::size_t> flood_received{0};
  std::thread writer([&] {
    for (std::size_t i = 0; i < requests / 1000; ++i) {
      if (!flood.send_all(batch)) return;
    }
  });
  std::thread reader([&] {
    std::vector<char> buf(1 << 16);
    std::size_t total = 0;
    while (total < requests * 6) {
      std::size_t got = 0;
      flood.recv_exact(buf.data(), std::min(buf.size(), requests * 6 - total), got, 20000ms);
      if (got == 0) break;
      total += got;
      flood_received.store(total);
    }
  });
  REQUIRE(eventually([&] { return flood_received.load() > 0; }));
  CHECK(other.roundtrip("PING\r\n", 6) == "PONG\r\n");
  const std::size_t flood_at_reply = flood_received.load();
  writer.join();
  reader.join();
  CHECK(flood_at_reply < requests * 6);
  CHECK(flood_received.load() == requests * 6);
  CHECK(server.stats().total.conn_yields > 0);
}

TEST_CASE("graceful stop closes idle clients and flushes replies in flight", "[loopback][stop]") {
  connkit::Server server(connkit::test::line_options(1));
  server.start();
  Client idle = Client::tcp(server.port());
  REQUIRE(idle.roundtrip("PING\r\n", 6) == "PONG\r\n");
  Client busy = Client::tcp(server.port(), "127.0.0.1", 8192);
  const std::string body(60000, 'z');
  const std::string request = "ECHO 60000\r\n" + body + "\r\n";
  const std::string reply = "OK 60000\r\n" + body + "\r\n";
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) {
      if (!busy.send_all(request)) return;
    }
  });
  // The server is sending echo replies that the client is not reading yet.
  const auto baseline = server.stats().total.bytes_written;
  REQUIRE(eventually([&] { return server.stats().total.bytes_written > baseline + reply.size(); }));
  server.stop();
  std::string got;
  CHECK(idle.read_to_eof(got, 2000ms));
  CHECK(got.empty());
  idle.close();
  got.clear();
  CHECK(busy.read_to_eof(got, 10000ms));
  writer.join();  // the server discards what is still coming (a lingering close) ...
  busy.close();   // ... until the client closes
  REQUIRE(!got.empty());
  CHECK(got.size() % reply.size() == 0);
  bool whole = true;
  for (std::size_t at = 0; at + reply.size() <= got.size(); at += reply.size()) {
    whole = whole && got.compare(at, reply.size(), reply) == 0;
  }
  CHECK(whole);
  server.join();
  CHECK(server.stopped());
  CHECK(server.stats().total.curr_conns == 0);
}

TEST_CASE("the stop deadline closes connections that cannot flush", "[loopback][stop]") {
  auto options = connkit::test::line_options(1);
  options.stop_timeout = 300ms;
  connkit::Server server(std::move(options));
  server.start();
  Client stuck = Client::tcp(server.port(), "127.0.0.1", 4096);
  std::string request;
  for (int i = 0; i < 40; ++i) request += "ECHO 60000\r\n" + std::string(60000, 'q') + "\r\n";
  std::thread writer([&] { stuck.send_all(request); });
  REQUIRE(eventually([&] { return server.stats().total.bytes_written > 60000; }));
  const auto since = std::chrono::steady_clock::now();
  server.stop();
  server.join();
  CHECK(std::chrono::steady_clock::now() - since < 3000ms);
  CHECK(server.stopped());
  stuck.close();
  writer.join();
}

TEST_CASE("accepted connections are spread round-robin over the workers", "[loopback][threads]") {
  connkit::Server server(connkit::test::line_options(4));
  server.start();
  std::vector<Client> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(Client::tcp(server.port()));
    REQUIRE(clients.back().roundtrip("PING\r\n", 6) == "PONG\r\n");
  }
  const auto s = server.stats();
  REQUIRE(s.workers.size() == 4);
  for (const auto& w : s.workers) CHECK(w.total_conns == 2);
}

TEST_CASE("SO_REUSEPORT listeners accept on every worker", "[loopback][threads]") {
  auto options = connkit::test::line_options(2);
  options.listeners[0].reuse_port = true;
  connkit::Server server(std::move(options));
  server.start();
  std::vector<Client> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(Client::tcp(server.port()));
    REQUIRE(clients.back().roundtrip("PING\r\n", 6) == "PONG\r\n");
  }
  CHECK(server.stats().total.curr_conns == 20);
}

TEST_CASE("a UNIX socket listener serves clients and sets the file mode", "[loopback][transport]") {
  const std::string path = "/tmp/connkit-test-" + std::to_string(::getpid()) + ".sock";
  {
    auto options = connkit::test::line_options(1);
    options.listeners[0].transport = connkit::Transport::unix_stream;
    options.listeners[0].path = path;
    options.listeners[0].unix_mode = 0600;
    connkit::Server server(std::move(options));
    server.start();
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    Client c = Client::unix_stream(path);
    CHECK(c.roundtrip("PING\r\nECHO 3\r\nabc\r\n", 17) == "PONG\r\nOK 3\r\nabc\r\n");
  }
  struct stat st {};
  CHECK(::stat(path.c_str(), &st) != 0);  // removed on stop
}

TEST_CASE("an IPv6 listener on ::1 serves clients", "[loopback][transport]") {
  auto options = connkit::test::line_options(1);
  options.listeners[0].host = "::1";
  connkit::Server server(std::move(options));
  boost::system::error_code ec;
  server.start(ec);
  if (ec) {
    WARN("IPv6 loopback unavailable here: " << ec.message());
    return;
  }
  Client c = Client::tcp(server.port(), "::1");
  CHECK(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
}

TEST_CASE("a UDP listener answers each datagram with one datagram to its sender", "[loopback][transport]") {
  auto options = connkit::test::line_options(2);
  options.listeners[0].transport = connkit::Transport::udp;
  connkit::Server server(std::move(options));
  server.start();
  boost::asio::io_context io;
  boost::asio::ip::udp::socket sock(io, boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const boost::asio::ip::udp::endpoint to(boost::asio::ip::make_address("127.0.0.1"), server.port());
  sock.send_to(boost::asio::buffer(std::string("PING\r\nECHO 2\r\nhi\r\n")), to);
  pollfd p{sock.native_handle(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);
  char buf[256];
  const std::size_t n = sock.receive(boost::asio::buffer(buf));
  CHECK(std::string(buf, n) == "PONG\r\nOK 2\r\nhi\r\n");
}

TEST_CASE("a server runs on the host's io_context with no threads of its own", "[loopback][host]") {
  boost::asio::io_context io;
  std::atomic<std::thread::id> handler_thread{};
  struct Recording final : connkit::ProtocolHandler {
    explicit Recording(std::atomic<std::thread::id>& id) : id_(id) {}
    connkit::Action on_input(connkit::Connection& conn, std::span<const char> in) override {
      id_.store(std::this_thread::get_id());
      conn.reply(std::string_view(in.data(), in.size()));
      return connkit::Action::consumed(in.size());
    }
    std::atomic<std::thread::id>& id_;
  };
  connkit::ServerOptions options;
  connkit::ListenerOptions l;
  l.handler = [&handler_thread] { return std::make_unique<Recording>(handler_thread); };
  options.listeners.push_back(l);
  connkit::Server server(io, std::move(options));
  server.start();
  std::string echoed;
  std::thread client([&] {
    Client c = Client::tcp(server.port());
    echoed = c.roundtrip("hello", 5);
    server.stop();  // from another thread
  });
  io.run();  // returns once the stop has drained every connection
  client.join();
  CHECK(echoed == "hello");
  CHECK(handler_thread.load() == std::this_thread::get_id());
  CHECK(server.stopped());
}

TEST_CASE("the read buffer grows for a large request, refuses past the limit, then shrinks", "[loopback][buffers]") {
  connkit::examples::LineLimits limits;
  limits.max_line = 1 << 20;
  auto options = connkit::test::line_options(1, limits);
  options.read_buffer_size = 1024;
  options.read_buffer_limit = 8192;
  connkit::Server server(std::move(options));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  REQUIRE(eventually([&] { return server.stats().total.read_buf_count == 0; }));
  const std::string body(6000, 'b');
  CHECK(c.roundtrip("ECHO 6000\r\n" + body + "\r\n", 9 + 6000 + 2) == "OK 6000\r\n" + body + "\r\n");
  // Drained: the grown buffer is freed, only the standard one stays cached.
  CHECK(eventually([&] {
    const auto s = server.stats().total;
    return s.read_buf_count == 0 && s.read_buf_bytes <= 1024;
  }));
  c.send_all(std::string(9000, 'a'));
  std::string got;
  CHECK(c.read_to_eof(got));
  CHECK(got == "CLIENT_ERROR line too long\r\n");
  c.close();  // ends the server's lingering close
  CHECK(eventually([&] { return server.stats().total.read_buf_bytes <= 1024; }));
}

TEST_CASE("more than IOV_MAX replies reach a slow reader complete and in order", "[loopback][buffers]") {
  connkit::Server server(connkit::test::line_options(1));
  server.start();
  Client c = Client::tcp(server.port(), "127.0.0.1", 4096);
  std::string request, expected;
  for (int i = 0; i < 3000; ++i) {
    const std::string v = std::to_string(i % 10);
    request += "ECHO 1\r\n" + v + "\r\n";
    expected += "OK 1\r\n" + v + "\r\n";  // three segments a reply: > 1024 iovecs in all
  }
  std::thread writer([&] { c.send_all(request); });
  std::string got;
  char chunk[64];
  while (got.size() < expected.size()) {
    std::size_t n = 0;
    c.recv_exact(chunk, std::min(sizeof chunk, expected.size() - got.size()), n);
    if (n == 0) break;
    got.append(chunk, n);
  }
  writer.join();
  CHECK(got == expected);
}

TEST_CASE("one-buffer replies larger than the socket buffer reach a slow reader whole, with and without io_uring",
          "[loopback][buffers]") {
  // Each request is answered with one copied buffer of 5 MB, more than a loopback socket
  // buffer holds: the send (through the worker's ring, or send()) stops part-way, and the
  // rest must follow at the exact byte.
  const bool ring = GENERATE(true, false);
  CAPTURE(ring);
  struct Big final : connkit::ProtocolHandler {
    connkit::Action on_input(connkit::Connection& conn, std::span<const char> in) override {
      const auto end = std::string_view(in.data(), in.size()).find('\n');
      if (end == std::string_view::npos) return connkit::Action::need_more();
      std::string reply(5000000, '\0');
      for (std::size_t i = 0; i < reply.size(); ++i) reply[i] = static_cast<char>('a' + (i * 7 + requests) % 26);
      ++requests;
      conn.reply(reply);
      return connkit::Action::consumed(end + 1);
    }
    std::size_t requests = 0;
  };
  connkit::ServerOptions options;
  connkit::ListenerOptions l;
  l.handler = [] { return std::make_unique<Big>(); };
  options.listeners.push_back(l);
  options.threads = 1;
  options.io_uring = ring;
  connkit::Server server(std::move(options));
  server.start();
  Client c = Client::tcp(server.port(), "127.0.0.1", 4096);
  std::string expected;
  for (std::size_t r = 0; r < 3; ++r) {
    for (std::size_t i = 0; i < 5000000; ++i) expected += static_cast<char>('a' + (i * 7 + r) % 26);
  }
  REQUIRE(c.send_all("BIG\nBIG\nBIG\n"));
  std::string got;
  std::vector<char> chunk(8192);
  while (got.size() < expected.size()) {
    std::size_t n = 0;
    c.recv_exact(chunk.data(), std::min(chunk.size(), expected.size() - got.size()), n);
    if (n == 0) break;
    got.append(chunk.data(), n);
  }
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
  CHECK(eventually([&] { return server.stats().total.bytes_written >= expected.size(); }));
}

TEST_CASE("verbose logging writes memcached's -vv lines to the host's sink", "[loopback][log]") {
  connkit::test::LogCapture capture;
  auto options = connkit::test::line_options(1);
  options.verbosity = 2;
  options.log = capture.sink();
  connkit::Server server(std::move(options));
  server.start();
  {
    Client c = Client::tcp(server.port());
    REQUIRE(c.roundtrip("PING\r\n", 6) == "PONG\r\n");
  }
  CHECK(eventually([&] { return capture.contains(" connection closed: peer closed the connection"); }));
  CHECK(capture.contains(" server listening (line)"));  // a pinned listener's default name: its protocol
  CHECK(capture.contains(" new line client connection."));
}

TEST_CASE("start reports what failed to bind", "[loopback][errors]") {
  connkit::Server first(connkit::test::line_options(1));
  first.start();
  auto options = connkit::test::line_options(1);
  options.listeners[0].port = first.port();
  connkit::Server second(std::move(options));
  try {
    second.start();
    FAIL("second bind to the same port succeeded");
  } catch (const boost::system::system_error& e) {
    CHECK(std::string(e.what()).find("bind 127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
    CHECK(e.code() == boost::system::errc::address_in_use);
  }
}

TEST_CASE("unusable options are an error, not a crash", "[errors]") {
  connkit::ServerOptions none;  // no listeners
  connkit::Server server(std::move(none));
  boost::system::error_code ec;
  server.start(ec);
  CHECK(ec == connkit::errc::invalid_option);
  auto options = connkit::test::line_options(1);
  options.read_buffer_limit = 16;  // below read_buffer_size
  connkit::Server small(std::move(options));
  small.start(ec);
  CHECK(ec == connkit::errc::invalid_option);
}

TEST_CASE("a handler's transition override can close after a request", "[loopback][handler]") {
  struct OneShot final : connkit::ProtocolHandler {
    connkit::Action on_input(connkit::Connection& conn, std::span<const char> in) override {
      conn.reply("dropped\r\n");
      return connkit::Action::consumed(in.size());
    }
    connkit::ConnState transition(const connkit::Connection&, connkit::ConnState, const connkit::Action&,
                                  connkit::ConnState) override {
      return connkit::ConnState::closing;
    }
  };
  connkit::ServerOptions options;
  connkit::ListenerOptions l;
  l.handler = [] { return std::make_unique<OneShot>(); };
  options.listeners.push_back(l);
  options.threads = 1;
  connkit::Server server(std::move(options));
  server.start();
  Client c = Client::tcp(server.port());
  c.send_all("x");
  CHECK(c.wait_closed());
}

TEST_CASE("a handler can name its peer", "[loopback][handler]") {
  struct Who final : connkit::ProtocolHandler {
    connkit::Action on_input(connkit::Connection& conn, std::span<const char> in) override {
      conn.reply(conn.peer_address() + "\n");
      return connkit::Action::consumed(in.size());
    }
  };
  const std::string path = "/tmp/connkit-who-" + std::to_string(::getpid()) + ".sock";
  connkit::ServerOptions options;
  options.threads = 1;
  connkit::ListenerOptions tcp;
  tcp.handler = [] { return std::make_unique<Who>(); };
  connkit::ListenerOptions local = tcp;
  local.transport = connkit::Transport::unix_stream;
  local.path = path;
  options.listeners = {tcp, local};
  connkit::Server server(std::move(options));
  server.start();
  Client c = Client::tcp(server.port(0));
  sockaddr_in mine{};
  socklen_t len = sizeof mine;
  REQUIRE(::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&mine), &len) == 0);
  const std::string expected = "127.0.0.1:" + std::to_string(ntohs(mine.sin_port)) + "\n";
  CHECK(c.roundtrip("?", expected.size()) == expected);
  Client u = Client::unix_stream(path);
  CHECK(u.roundtrip("?", 5) == "unix\n");
  CHECK(server.port(1) == 0);
}

TEST_CASE("owned workers serve and run Asio timers in their own loop, or in Asio's run() where the loop's check fails",
          "[loopback][loop]") {
  const bool check_fails = GENERATE(false, true);
  CAPTURE(check_fails);
  connkit::test::LogCapture capture;
  auto options = connkit::test::line_options(2);
  options.idle_timeout = 200ms;  // the idle sweep is an Asio timer on each worker's io_context
  options.verbosity = 1;
  options.log = capture.sink();
  connkit::Server server(std::move(options));
  connkit::testing::FaultInjection faults;
  faults.fail_loop_check = check_fails;
  connkit::testing::inject_faults(server, std::move(faults));
  server.start();
  CHECK(capture.contains("Asio's reactor cannot wake the worker's epoll set") == check_fails);
  Client first = Client::tcp(server.port());
  Client second = Client::tcp(server.port());  // round-robin: one on each worker
  REQUIRE(first.roundtrip("PING\r\n", 6) == "PONG\r\n");
  REQUIRE(second.roundtrip("PING\r\n", 6) == "PONG\r\n");
  std::string got;
  CHECK(first.read_to_eof(got, 3000ms));
  CHECK(second.read_to_eof(got, 3000ms));
  CHECK(server.stats().total.idle_kicks == 2);
  server.stop();
  server.join();
  CHECK(server.stopped());
}
