#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include <connkit/conn_state.hpp>
#include <connkit/options.hpp>
#include <connkit/protocol_handler.hpp>
#include <connkit/stats.hpp>

namespace connkit::testing {

/// One connection of a protocol handler, driven by the library's real state machine with
/// no listening socket and no thread: the connection's socket is one end of a UNIX
/// socketpair and the test holds the other. Each call runs the state machine on the calling
/// thread until it has nothing left to do, so a test needs no sleeps and no timeouts. For
/// unit tests of a host program's handler, including how it copes with input split anywhere
/// (see exchange()'s `fragment`).
///
/// ```
/// connkit::testing::HandlerHarness h([] { return std::make_unique<MyHandler>(); });
/// CHECK(h.exchange("PUT a 1\r\nGET a\r\n", 1) == "OK\r\n1\r\n");  // one byte at a time
/// ```
/// Not thread-safe; the handler's callbacks run inside the harness's calls.
class HandlerHarness {
 public:
  /// Opens one connection whose handler `factory` makes, on a worker configured by
  /// `options` (its threads and listeners are ignored but for listeners[0].require_auth;
  /// limits, verbosity, log, reqs_per_event and buffer sizes apply). The handler's on_open() has run when this returns.
  explicit HandlerHarness(HandlerFactory factory, ServerOptions options = {});
  /// Closes the client's end and lets the connection finish closing.
  ~HandlerHarness();
  HandlerHarness(const HandlerHarness&) = delete;
  HandlerHarness& operator=(const HandlerHarness&) = delete;

  /// Sends `input` in writes of at most `fragment` bytes, running the state machine after
  /// each, and returns every reply byte received meanwhile (and any queued before).
  std::string exchange(std::string_view input, std::size_t fragment = std::numeric_limits<std::size_t>::max());
  /// The reply bytes received since the last call (exchange() returns them too).
  std::string take_output();
  /// Ends the client's input (shutdown(SHUT_WR): the connection reads EOF), then runs.
  void shutdown_input();
  /// True once the connection closed its socket (the client read EOF).
  bool closed() const noexcept;
  /// The connection's state; ConnState::closing once closed.
  ConnState state() const noexcept;
  /// The connection's handler (cast it to the handler's type to inspect it).
  ProtocolHandler& handler() noexcept;
  /// The worker's connection counters (bytes_read, bytes_written, conn_yields, ...).
  ConnectionStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace connkit::testing
