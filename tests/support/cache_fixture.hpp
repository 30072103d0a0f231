#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include <connkit/cache/endpoint.hpp>

#include "support/client.hpp"

namespace connkit::test {

/// Which handlers the fixture's listener makes.
enum class CacheListener { text, binary };

/// A store, an endpoint and a server (one worker unless told) on a free port, with a clock
/// the test moves. The server starts at verbosity 0, logging to `log` if one is given. Its
/// listener speaks text and meta, or (CacheListener::binary) the binary protocol only.
struct CacheFixture {
  explicit CacheFixture(std::size_t memory = 64u << 20, std::size_t item_max = 1u << 20, LogSink log = {},
                        unsigned threads = 1, cache::EndpointOptions endpoint_options = {},
                        CacheListener listener = CacheListener::text) {
    cache::StoreOptions so;
    so.memory_limit = memory;
    so.item_size_max = item_max;
    so.clock = [this] { return now.load(); };
    store = std::make_unique<cache::Store>(so);
    endpoint = std::make_unique<cache::Endpoint>(*store, std::move(endpoint_options));
    ServerOptions options;
    options.threads = threads;
    options.log = std::move(log);
    ListenerOptions l;
    l.handler = listener == CacheListener::binary ? endpoint->binary_handler_factory() : endpoint->handler_factory();
    options.listeners.push_back(l);
    server = std::make_unique<Server>(std::move(options));
    endpoint->attach(*server);
    server->start();
  }
  /// A new connection to the fixture's server.
  Client client() { return Client::tcp(server->port()); }

  std::atomic<std::int64_t> now{1700000000};  ///< the store's clock, in Unix seconds
  std::unique_ptr<cache::Store> store;
  std::unique_ptr<cache::Endpoint> endpoint;
  std::unique_ptr<Server> server;
};

/// Sends `request` and returns exactly `reply_size` bytes of reply.
inline std::string exchange(Client& c, const std::string& request, std::size_t reply_size) {
  return c.roundtrip(request, reply_size);
}

/// Reads one reply line, "\r\n" included (what arrived so far on time-out or close).
inline std::string recv_line(Client& c) {
  std::string line;
  char ch = 0;
  std::size_t got = 0;
  while (c.recv_exact(&ch, 1, got)) {
    line += ch;
    if (ch == '\n') break;
  }
  return line;
}

/// Sends `request` and returns the first line of the reply.
/// Sends a `stats...` request and returns its reply up to and including "END\r\n".
inline std::string stats_reply(Client& c, std::string_view request) {
  c.send_all(request);
  std::string text;
  while (text.find("END\r\n") == std::string::npos) {
    char byte;
    std::size_t got = 0;
    c.recv_exact(&byte, 1, got);
    if (got == 0) break;
    text.push_back(byte);
  }
  return text;
}

inline std::string line_reply(Client& c, std::string_view request) {
  if (!c.send_all(request)) return "<send failed>";
  return recv_line(c);
}

/// `line` with each number that directly follows one of `markers` replaced by "#": for
/// values another server would print differently (CAS uniques, item sizes).
inline std::string mask_numbers(std::string_view line, std::initializer_list<std::string_view> markers) {
  auto is_digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  std::string out;
  std::size_t i = 0;
  while (i < line.size()) {
    bool masked = false;
    for (std::string_view m : markers) {
      if (line.substr(i, m.size()) == m && i + m.size() < line.size() && is_digit(line[i + m.size()])) {
        out += m;
        out += '#';
        i += m.size();
        while (i < line.size() && is_digit(line[i])) ++i;
        masked = true;
        break;
      }
    }
    if (!masked) out += line[i++];
  }
  return out;
}

/// The number that directly follows the first `marker` in `line` that a digit follows; 0 if none.
inline std::uint64_t number_after(std::string_view line, std::string_view marker) {
  for (std::size_t at = line.find(marker); at != std::string_view::npos; at = line.find(marker, at + 1)) {
    std::size_t i = at + marker.size();
    if (i >= line.size() || line[i] < '0' || line[i] > '9') continue;
    std::uint64_t n = 0;
    for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
      n = n * 10 + static_cast<std::uint64_t>(line[i] - '0');
    }
    return n;
  }
  return 0;
}

}  // namespace connkit::test

/// Sends `request` on `client` and checks that the reply is exactly `reply`.
#define EXPECT_REPLY(client, request, reply) \
  CHECK(::connkit::test::exchange(client, request, std::string(reply).size()) == reply)
