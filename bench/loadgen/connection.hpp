#pragma once

#include <utility>  // before Boost.Asio: Boost 1.74's headers use std::exchange without it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "run_control.hpp"
#include "workload.hpp"

namespace loadgen {

/// One client TCP connection that keeps `depth` requests of its workload in flight.
///
/// Closed loop: each completed response is replaced by a new request at once. Requests
/// made while a write is in progress are batched into the next write. Latency runs from
/// the moment a request is made to the moment its last response byte is parsed.
/// All handlers run on the owning worker's io_context thread.
class Connection {
 public:
  /// Creates an unconnected connection number `index` on `io`.
  Connection(boost::asio::io_context& io, std::size_t index, std::unique_ptr<WorkloadSession> session,
             std::size_t depth, RunControl& control, WorkerStats& stats);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects (blocking) to the first reachable endpoint and sets TCP_NODELAY; throws on failure.
  void connect(const boost::asio::ip::tcp::resolver::results_type& endpoints);

  /// Sends the first `depth` requests and starts reading responses.
  void start();

  /// When the oldest request still waiting for its response was made; false if none waits.
  /// Call only while the worker thread is not running.
  bool oldest_in_flight(Clock::time_point& made_at) const;

 private:
  /// Makes `count` new requests and writes them as soon as no write is in progress.
  void issue(std::size_t count);

  /// Hands the batched requests to one async_write.
  void write_pending();

  /// Write completion: reports errors or writes what was batched meanwhile.
  void on_write(const boost::system::error_code& ec);

  /// Reads more response bytes after what is buffered.
  void do_read();

  /// Read completion: lets the session parse, completes requests, issues new ones.
  void on_read(const boost::system::error_code& ec, std::size_t length);

  /// Retires the `count` oldest in-flight requests, recording their latency if measuring.
  void complete(std::size_t count);

  /// Reports a failure of this connection to the run and stops using it.
  void fail(const std::string& message);

  boost::asio::ip::tcp::socket socket_;
  std::size_t index_;
  std::unique_ptr<WorkloadSession> session_;
  RunControl& control_;
  WorkerStats& stats_;
  std::vector<Clock::time_point> sent_at_;  ///< ring of in-flight requests' creation times
  std::size_t sent_head_ = 0;               ///< ring slot of the oldest in-flight request
  std::size_t in_flight_ = 0;
  std::string pending_;                     ///< requests made while a write was in progress
  std::string writing_;                     ///< bytes of the write in progress
  bool write_active_ = false;
  std::vector<char> input_;                 ///< received bytes not yet consumed, from the start
  std::size_t input_used_ = 0;
  bool failed_ = false;
};

}  // namespace loadgen
