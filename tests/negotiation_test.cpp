// Negotiating listeners (ListenerOptions::binary_handler): the first byte a connection
// receives chooses its handler, over TCP and UNIX sockets, for any pair of protocols. The
// two protocols here are tiny test ones: a line protocol ("text") and a length-prefixed
// frame protocol led by 0x80 ("frame").

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <connkit/connkit.hpp>

#include "support/client.hpp"
#include "support/log_capture.hpp"

using connkit::test::Client;
using connkit::test::eventually;
using namespace std::chrono_literals;

namespace {

/// What the handlers saw, from the worker thread: "open text1", "close frame1", ...
struct Journal {
  std::mutex mutex;
  std::vector<std::string> events;
  std::atomic<int> made_text{0};
  std::atomic<int> made_frame{0};
  bool greet = false;                // text handlers queue "HELLO" in on_open (set before start)
  bool frame_factory_fails = false;  // set before start

  void add(std::string event) {
    std::lock_guard<std::mutex> lock(mutex);
    events.push_back(std::move(event));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return events;
  }
  bool has(const std::string& event) {
    const std::vector<std::string> all = snapshot();
    return std::find(all.begin(), all.end(), event) != all.end();
  }
  std::size_t size() { return snapshot().size(); }
};

/// "TEXT <line>\r\n" for each line.
class TextHandler final : public connkit::ProtocolHandler {
 public:
  explicit TextHandler(Journal& j) : journal_(j), name_("text" + std::to_string(++j.made_text)) {}
  void on_open(connkit::Connection& conn) override {
    journal_.add("open " + name_);
    if (journal_.greet) conn.reply("HELLO\r\n");
  }
  connkit::Action on_input(connkit::Connection& conn, std::span<const char> in) override {
    const std::string_view text(in.data(), in.size());
    const std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos) return connkit::Action::need_more();
    conn.reply("TEXT " + std::string(text.substr(0, newline)) + "\r\n");
    return connkit::Action::consumed(newline + 1);
  }
  void on_close(connkit::Connection&, boost::system::error_code) noexcept override {
    journal_.add("close " + name_);
  }
  std::string_view protocol_name() const noexcept override { return "text"; }

 private:
  Journal& journal_;
  std::string name_;
};

/// 0x80, a length byte, that many bytes; answered with 0x81, the length, the same bytes.
/// Anything not led by 0x80 closes.
class FrameHandler final : public connkit::ProtocolHandler {
 public:
  explicit FrameHandler(Journal& j) : journal_(j), name_("frame" + std::to_string(++j.made_frame)) {}
  void on_open(connkit::Connection&) override { journal_.add("open " + name_); }
  connkit::Action on_input(connkit::Connection& conn, std::span<const char> in) override {
    if (static_cast<unsigned char>(in[0]) != 0x80) return connkit::Action::close();
    if (in.size() < 2) return connkit::Action::need_more();
    const std::size_t size = 2 + std::size_t{static_cast<unsigned char>(in[1])};
    if (in.size() < size) return connkit::Action::need_more();
    std::string reply(in.data(), size);
    reply[0] = static_cast<char>(0x81);
    conn.reply(reply);
    return connkit::Action::consumed(size);
  }
  void on_close(connkit::Connection&, boost::system::error_code) noexcept override {
    journal_.add("close " + name_);
  }
  std::string_view protocol_name() const noexcept override { return "frame"; }

 private:
  Journal& journal_;
  std::string name_;
};

connkit::HandlerFactory text_factory(Journal& j) {
  return [&j] { return std::make_unique<TextHandler>(j); };
}

connkit::HandlerFactory frame_factory(Journal& j) {
  return [&j]() -> std::unique_ptr<connkit::ProtocolHandler> {
    if (j.frame_factory_fails) throw std::bad_alloc();
    return std::make_unique<FrameHandler>(j);
  };
}

std::string unix_path(const char* what) {
  return "/tmp/connkit-negotiation-" + std::string(what) + "-" + std::to_string(::getpid()) + ".sock";
}

/// A server with one listener of `transport` serving `text` and/or `frame` handlers.
connkit::ServerOptions options_for(connkit::Transport transport, connkit::HandlerFactory text,
                                   connkit::HandlerFactory frame) {
  connkit::ServerOptions o;
  o.threads = 1;
  connkit::ListenerOptions l;
  l.transport = transport;
  if (transport == connkit::Transport::unix_stream) l.path = unix_path("listener");
  l.handler = std::move(text);
  l.binary_handler = std::move(frame);
  o.listeners.push_back(std::move(l));
  return o;
}

Client connect(const connkit::Server& server) {
  const connkit::ListenerOptions& l = server.options().listeners[0];
  return l.transport == connkit::Transport::unix_stream ? Client::unix_stream(l.path) : Client::tcp(server.port());
}

const std::string frame_request = std::string("\x80\x03" "abc", 5);
const std::string frame_reply = std::string("\x81\x03" "abc", 5);

/// The fd N of the first "<N new auto-negotiating client connection" line, or -1.
int negotiating_fd(connkit::test::LogCapture& capture) {
  for (const std::string& line : capture.snapshot()) {
    int fd = -1;
    int end = 0;
    if (std::sscanf(line.c_str(), "<%d new auto-negotiating client connection%n", &fd, &end) == 1 &&
        static_cast<std::size_t>(end) == line.size()) {
      return fd;
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("a negotiating listener gives each client the handler its first byte chooses", "[loopback][negotiation]") {
  const connkit::Transport transport = GENERATE(connkit::Transport::tcp, connkit::Transport::unix_stream);
  CAPTURE(transport == connkit::Transport::tcp ? "tcp" : "unix");
  Journal journal;
  connkit::Server server(options_for(transport, text_factory(journal), frame_factory(journal)));
  server.start();
  CHECK(server.options().listeners[0].name == "auto-negotiate");

  // Both kinds at once on the same listener, each answered by its own protocol.
  Client text = connect(server);
  Client frame = connect(server);
  CHECK(text.roundtrip("hello\n", 12) == "TEXT hello\r\n");
  CHECK(frame.roundtrip(frame_request, 5) == frame_reply);
  CHECK(text.roundtrip("again\n", 12) == "TEXT again\r\n");
  CHECK(frame.roundtrip(frame_request, 5) == frame_reply);
  CHECK(journal.has("open text1"));
  CHECK(journal.has("open frame1"));

  // The first byte alone decides: the handler is chosen (on_open has run) before the rest.
  Client split_text = connect(server);
  REQUIRE(split_text.send_all("h"));
  CHECK(eventually([&] { return journal.has("open text2"); }));
  CHECK(split_text.roundtrip("i\n", 9) == "TEXT hi\r\n");
  Client split_frame = connect(server);
  REQUIRE(split_frame.send_all(std::string(1, '\x80')));
  CHECK(eventually([&] { return journal.has("open frame2"); }));
  CHECK(split_frame.roundtrip(std::string("\x02" "xy", 3), 4) == std::string("\x81\x02" "xy", 4));

  // A client that has sent nothing is listed like any other, and has no handler yet.
  Client silent = connect(server);
  CHECK(eventually([&] { return server.connections().size() == 6; }));  // the listener and five clients
  CHECK(journal.made_text == 2);
  CHECK(journal.made_frame == 2);
}

TEST_CASE("a negotiating handler's on_open runs when the first byte arrives, before on_input",
          "[loopback][negotiation]") {
  Journal journal;
  journal.greet = true;
  connkit::Server server(options_for(connkit::Transport::tcp, text_factory(journal), frame_factory(journal)));
  server.start();
  Client c = connect(server);
  REQUIRE(eventually([&] { return server.stats().total.curr_conns == 1; }));
  CHECK(journal.size() == 0);  // open, but no protocol yet: no on_open, so no greeting either
  CHECK(c.roundtrip("x\n", 15) == "HELLO\r\nTEXT x\r\n");
}

TEST_CASE("pinned listeners serve one handler whatever the first byte", "[loopback][negotiation]") {
  Journal journal;
  connkit::test::LogCapture capture;
  connkit::ServerOptions o;
  o.threads = 1;
  o.verbosity = 2;
  o.log = capture.sink();
  connkit::ListenerOptions text_only;
  text_only.handler = text_factory(journal);
  connkit::ListenerOptions frame_only;
  frame_only.transport = connkit::Transport::unix_stream;
  frame_only.path = unix_path("pinned");
  frame_only.binary_handler = frame_factory(journal);
  o.listeners = {text_only, frame_only};
  connkit::Server server(std::move(o));
  server.start();
  // The default names follow the pinned handler's protocol_name() (the acceptors log them
  // on their own thread, after start() returned).
  CHECK(server.options().listeners[0].name == "text");
  CHECK(server.options().listeners[1].name == "frame");
  CHECK(eventually([&] { return capture.contains(" server listening (text)"); }));
  CHECK(eventually([&] { return capture.contains(" server listening (frame)"); }));

  Client text = Client::tcp(server.port(0));
  CHECK(text.roundtrip(frame_request + "\n", 12) == "TEXT " + frame_request + "\r\n");  // 0x80 is just a byte here
  Client frame = Client::unix_stream(server.options().listeners[1].path);
  CHECK(frame.roundtrip(frame_request, 5) == frame_reply);
  Client wrong = Client::unix_stream(server.options().listeners[1].path);
  REQUIRE(wrong.send_all("hello\n"));
  CHECK(wrong.wait_closed());
  CHECK(capture.contains(" new text client connection."));
  CHECK(capture.contains(" new frame client connection."));
  CHECK_FALSE(capture.contains("auto-negotiating"));
  CHECK_FALSE(capture.contains("Client using the"));
}

TEST_CASE("negotiation writes memcached's -vv lines", "[loopback][negotiation][log]") {
  Journal journal;
  connkit::test::LogCapture capture;
  auto o = options_for(connkit::Transport::tcp, text_factory(journal), frame_factory(journal));
  o.verbosity = 2;
  o.log = capture.sink();
  connkit::Server server(std::move(o));
  server.start();
  CHECK(eventually([&] { return capture.contains(" server listening (auto-negotiate)"); }));
  {
    Client frame = connect(server);
    CHECK(eventually([&] { return negotiating_fd(capture) >= 0; }));
    CHECK(frame.roundtrip(frame_request, 5) == frame_reply);
  }
  const int fd = negotiating_fd(capture);
  REQUIRE(fd >= 0);
  // std::string(...).append: g++ 12 -O3 flags `"literal" + std::string` with a false -Wrestrict.
  const std::string chosen = std::to_string(fd).append(": Client using the frame protocol");
  const std::string closed = std::string("<").append(std::to_string(fd)).append(" connection closed");
  CHECK(eventually([&] { return capture.contains(chosen); }));
  CHECK_FALSE(capture.contains("new frame client connection"));
  CHECK(eventually([&] { return capture.contains(closed); }));
  Client text = connect(server);
  CHECK(text.roundtrip("a\n", 8) == "TEXT a\r\n");
  CHECK(capture.contains(": Client using the text protocol"));
}

TEST_CASE("a reused negotiating struct gets the right handler each time and closes the chosen one",
          "[loopback][negotiation][pool]") {
  Journal journal;
  connkit::Server server(options_for(connkit::Transport::tcp, text_factory(journal), frame_factory(journal)));
  server.start();
  const auto closed = [&] { return server.stats().total.curr_conns == 0; };
  {
    Client c = connect(server);
    CHECK(c.roundtrip("one\n", 10) == "TEXT one\r\n");
  }
  REQUIRE(eventually(closed));
  {
    Client c = connect(server);
    CHECK(c.roundtrip(frame_request, 5) == frame_reply);
  }
  REQUIRE(eventually(closed));
  {
    Client c = connect(server);  // sends nothing: reaches no handler
  }
  REQUIRE(eventually(closed));
  {
    Client c = connect(server);
    CHECK(c.roundtrip("two\n", 10) == "TEXT two\r\n");
  }
  REQUIRE(eventually(closed));
  {
    Client c = connect(server);
    CHECK(c.roundtrip(frame_request, 5) == frame_reply);
  }
  REQUIRE(eventually(closed));
  CHECK(server.stats().total.conn_structs == 1);  // one struct served all five clients
  CHECK(journal.made_text == 1);                  // and made each kind of handler once
  CHECK(journal.made_frame == 1);
  const std::vector<std::string> expected{"open text1",  "close text1",  "open frame1", "close frame1",
                                          "open text1",  "close text1",  "open frame1", "close frame1"};
  CHECK(journal.snapshot() == expected);
}

TEST_CASE("a negotiating handler factory that throws refuses that client only", "[loopback][negotiation][errors]") {
  Journal journal;
  journal.frame_factory_fails = true;
  connkit::Server server(options_for(connkit::Transport::tcp, text_factory(journal), frame_factory(journal)));
  server.start();
  Client frame = connect(server);
  REQUIRE(frame.send_all(frame_request));
  CHECK(frame.wait_closed());
  CHECK(server.stats().total.malloc_fails == 1);
  Client text = connect(server);
  CHECK(text.roundtrip("ok\n", 9) == "TEXT ok\r\n");
  CHECK(journal.snapshot() == std::vector<std::string>{"open text1"});  // the refused client reached no handler
}

TEST_CASE("a graceful stop closes a negotiating client that never sent a byte", "[loopback][negotiation][stop]") {
  Journal journal;
  connkit::Server server(options_for(connkit::Transport::tcp, text_factory(journal), frame_factory(journal)));
  server.start();
  Client silent = connect(server);
  CHECK(eventually([&] { return server.stats().total.curr_conns == 1; }));
  server.stop();
  CHECK(silent.wait_closed());
  server.join();
  CHECK(server.stopped());
  CHECK(journal.size() == 0);
}

TEST_CASE("listener handler options are validated", "[negotiation][errors]") {
  Journal journal;
  const auto start_error = [](connkit::ServerOptions o) {
    connkit::Server server(std::move(o));
    try {
      server.start();
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == connkit::errc::invalid_option);
      return std::string(e.what());
    }
    return std::string("started");
  };
  CHECK(start_error(options_for(connkit::Transport::tcp, {}, {})).find("listeners[0].handler") != std::string::npos);
  // A framing is for UDP only (a UDP listener may negotiate: each datagram chooses).
  struct NoHeader final : connkit::DatagramFraming {
    std::size_t header_size() const noexcept override { return 0; }
    std::size_t max_datagram() const noexcept override { return 1000; }
    bool accept(std::span<const unsigned char>) const noexcept override { return true; }
    void write_header(std::span<const unsigned char>, std::span<unsigned char>, std::size_t, std::size_t) const noexcept override {}
  };
  auto framed = options_for(connkit::Transport::tcp, text_factory(journal), frame_factory(journal));
  framed.listeners[0].framing = std::make_shared<NoHeader>();
  CHECK(start_error(std::move(framed)).find("listeners[0].framing") != std::string::npos);
}
