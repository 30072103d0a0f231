// Deferred replies over real sockets: order, other threads, stale and cancelled handles, the
// in-flight limit, and Asio work (a timer, an outbound socket) on the connection's executor.
#include <utility>  // before Asio (Boost 1.74)

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include "echo_handler.hpp"
#include "support/client.hpp"
#include "support/deferred_handler.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::ManualCompleter;

namespace {

connkit::ConnState state_of(const connkit::Server& server, std::uint64_t id) {
  for (const connkit::ConnectionInfo& c : server.connections()) {
    if (c.id == id) return c.state;
  }
  return connkit::ConnState::listening;
}

/// Completes by asking an echo server over a socket made on the connection's executor.
class EchoBackendCompleter final : public connkit::test::Completer {
 public:
  explicit EchoBackendCompleter(std::uint16_t port) : port_(port) {}
  void take(connkit::Connection& conn, connkit::DeferredReply reply, std::string_view text) override {
    struct Call {
      boost::asio::ip::tcp::socket socket;
      std::string out;
      std::string in;
      connkit::DeferredReply reply;
      boost::asio::io_context::executor_type executor;
    };
    auto call = std::make_shared<Call>(Call{boost::asio::ip::tcp::socket(conn.executor()), std::string(text) + "\r\n",
                                            std::string(text.size() + 2, '\0'), reply, conn.executor()});
    const boost::asio::ip::tcp::endpoint backend(boost::asio::ip::make_address("127.0.0.1"), port_);
    call->socket.async_connect(backend, [this, call](const boost::system::error_code& ec) {
      if (ec) return void(call->reply.complete("BACKEND DOWN\r\n"));
      boost::asio::async_write(call->socket, boost::asio::buffer(call->out), [this, call](auto ec, std::size_t) {
        if (ec) return void(call->reply.complete("BACKEND DOWN\r\n"));
        boost::asio::async_read(call->socket, boost::asio::buffer(call->in), [this, call](auto ec, std::size_t) {
          on_thread += call->executor.running_in_this_thread() ? 1 : 0;
          call->reply.complete(ec ? std::string("BACKEND DOWN\r\n") : call->in);
        });
      });
    });
  }
  std::atomic<int> on_thread{0};

 private:
  std::uint16_t port_;
};

}  // namespace

TEST_CASE("deferred replies leave in request order, whatever order they complete in", "[deferred]") {
  ManualCompleter completer;
  connkit::Server server(connkit::test::deferred_options(completer));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.send_all("later A\r\nnow B\r\nlater C\r\nnow D\r\nsplit E F\r\nnow G\r\n"));
  REQUIRE(eventually([&] { return completer.size() == 4; }));
  // Backwards: the last first. Nothing may leave before A.
  REQUIRE(completer.complete(3));
  REQUIRE(completer.complete(2));
  REQUIRE(completer.complete(1));
  REQUIRE(completer.complete(0));
  const std::string expected = "A\r\nB\r\nC\r\nD\r\nE\r\nmid\r\nF\r\nG\r\n";
  CHECK(c.recv_n(expected.size()) == expected);
  CHECK(server.stats().total.deferred_replies == 4);
  // Later requests were parsed and answered while the first waited: all four handles
  // existed before any was completed.
  CHECK(completer.most_in_flight() == 4);
}

TEST_CASE("deferred replies completed by other threads under load stay in order per connection", "[deferred]") {
  connkit::test::ThreadCompleter completer(4);
  connkit::Server server(connkit::test::deferred_options(completer, 2));
  server.start();
  constexpr int clients = 16, rounds = 150, batch = 12;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Client c = Client::tcp(server.port());
      for (int r = 0; r < rounds; ++r) {
        std::string request, expected;
        for (int i = 0; i < batch; ++i) {
          const std::string token = std::to_string(t) + "." + std::to_string(r) + "." + std::to_string(i);
          request += (i % 3 == 2 ? "now " : "later ") + token + "\r\n";
          expected += token + "\r\n";
        }
        if (!c.send_all(request) || c.recv_n(expected.size()) != expected) ++bad;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(bad == 0);
  CHECK(server.stats().total.deferred_replies == std::uint64_t{clients} * rounds * (batch - batch / 3));
  CHECK(completer.stale() == 0);
}

TEST_CASE("a completed, cancelled or reused handle is stale: completing it does nothing", "[deferred]") {
  ManualCompleter completer;
  connkit::Server server(connkit::test::deferred_options(completer));
  server.start();
  {
    Client c = Client::tcp(server.port());
    REQUIRE(c.send_all("later A\r\n"));
    REQUIRE(eventually([&] { return completer.size() == 1; }));
    CHECK(completer.at(0).reply.pending());
    CHECK(completer.complete(0));
    CHECK_FALSE(completer.complete(0));  // given already
    CHECK(c.recv_n(3) == "A\r\n");
    REQUIRE(c.send_all("later B\r\n"));
    REQUIRE(eventually([&] { return completer.size() == 2; }));
  }  // the client leaves with B outstanding
  REQUIRE(eventually([&] { return server.stats().total.curr_conns == 0; }));
  CHECK_FALSE(completer.at(1).reply.pending());
  CHECK_FALSE(completer.complete(1));  // cancelled by the close
  CHECK(server.stats().total.deferred_cancelled == 1);

  // The pooled struct and its records serve a new client: the old handles stay stale.
  Client d = Client::tcp(server.port());
  REQUIRE(d.send_all("later C\r\nnow D\r\n"));
  REQUIRE(eventually([&] { return completer.size() == 3; }));
  CHECK(completer.at(2).connection != completer.at(1).connection);
  CHECK_FALSE(completer.complete(1));
  CHECK_FALSE(completer.complete(0));
  CHECK(completer.complete(2));
  CHECK(d.recv_n(6) == "C\r\nD\r\n");
  CHECK(server.stats().total.conn_structs == 1);
  CHECK_FALSE(connkit::DeferredReply().complete("x"));  // an empty handle
}

TEST_CASE("past max_deferred handles in flight the connection parses nothing until one completes", "[deferred]") {
  ManualCompleter completer;
  connkit::Server server(connkit::test::deferred_options(completer, 1, 2));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.send_all("later 1\r\nlater 2\r\nlater 3\r\nlater 4\r\nlater 5\r\nnow 6\r\n"));
  REQUIRE(eventually([&] { return completer.size() == 2; }));
  const std::uint64_t id = completer.at(0).connection;
  REQUIRE(eventually([&] { return state_of(server, id) == connkit::ConnState::io_queue; }));
  CHECK(completer.size() == 2);  // still: requests 3-5 wait unparsed
  for (std::size_t i = 0; i < 5; ++i) {
    REQUIRE(eventually([&] { return completer.size() > i; }));
    REQUIRE(completer.complete(i));
  }
  CHECK(c.recv_n(15) == "1\r\n2\r\n3\r\n4\r\n5\r\n");
  CHECK(c.recv_n(3) == "6\r\n");
  CHECK(completer.most_in_flight() == 2);
}

TEST_CASE("write_and_close and a graceful stop wait for the deferred replies", "[deferred]") {
  ManualCompleter completer;
  connkit::Server server(connkit::test::deferred_options(completer));
  server.start();
  Client quitting = Client::tcp(server.port());
  REQUIRE(quitting.send_all("later A\r\nquit\r\n"));
  REQUIRE(eventually([&] { return completer.size() == 1; }));
  Client stopping = Client::tcp(server.port());
  REQUIRE(stopping.send_all("later B\r\nnow C\r\n"));
  REQUIRE(eventually([&] { return completer.size() == 2; }));
  server.stop();
  CHECK(completer.complete(0));
  CHECK(completer.complete(1));
  std::string a, b;
  CHECK(quitting.read_to_eof(a));
  CHECK(a == "A\r\n");
  CHECK(stopping.read_to_eof(b));
  CHECK(b == "B\r\nC\r\n");
  server.join();
}

TEST_CASE("a handler completes from an Asio timer on the connection's executor", "[deferred]") {
  connkit::test::TimerCompleter completer(std::chrono::milliseconds(20));
  connkit::Server server(connkit::test::deferred_options(completer, 2));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.send_all("later T1\r\nnow N\r\nlater T2\r\n"));
  CHECK(c.recv_n(12) == "T1\r\nN\r\nT2\r\n");
  CHECK(completer.on_thread == 2);
}

TEST_CASE("a handler completes from an outbound Asio socket on the connection's executor", "[deferred]") {
  connkit::ServerOptions echo_options;
  echo_options.threads = 1;
  connkit::ListenerOptions echo_listener;
  echo_listener.handler = [] { return std::make_unique<connkit::examples::EchoHandler>(); };
  echo_options.listeners.push_back(std::move(echo_listener));
  connkit::Server echo(std::move(echo_options));
  echo.start();
  EchoBackendCompleter completer(echo.port());
  connkit::Server server(connkit::test::deferred_options(completer, 2));
  server.start();
  Client c = Client::tcp(server.port());
  REQUIRE(c.send_all("later hello\r\nnow between\r\nlater world\r\n"));
  const std::string expected = "hello\r\nbetween\r\nworld\r\n";
  CHECK(c.recv_n(expected.size()) == expected);
  CHECK(completer.on_thread == 2);
}
