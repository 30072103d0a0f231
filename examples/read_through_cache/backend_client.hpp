#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <connkit/cache/endpoint.hpp>

namespace connkit::examples {

/// A client of one memcached text-protocol server, used as a cache::Loader: `get <key>` on
/// a connection of the calling worker's executor. Each worker thread keeps a few idle
/// connections for reuse; one that errs or times out is closed, never reused.
class BackendClient {
 public:
  /// At `verbosity` >= 1 each failure is logged to stderr, naming the backend and the error.
  BackendClient(boost::asio::ip::tcp::endpoint backend, std::chrono::milliseconds timeout, int verbosity);

  /// The Loader: asks the backend for `key` and completes `done` on this thread: found,
  /// not_found, failed (refused, closed, a reply that is not a get's) or timed_out (no
  /// whole reply within the timeout; that connection is closed).
  void load(std::string_view key, boost::asio::io_context::executor_type executor, cache::LoadCompletion done) const;

  /// "HOST:PORT" of the backend, for log lines.
  const std::string& name() const noexcept { return name_; }

 private:
  boost::asio::ip::tcp::endpoint backend_;
  std::chrono::milliseconds timeout_;
  int verbosity_;
  std::string name_;
};

}  // namespace connkit::examples
