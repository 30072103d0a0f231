#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <connkit/options.hpp>
#include <connkit/stats.hpp>
#include <connkit/testing/fault_injection.hpp>

#include "counters.hpp"
#include "listener.hpp"
#include "log_line.hpp"
#include "worker.hpp"

namespace connkit::detail {

/// Everything behind connkit::Server. Members are declared so that the io_contexts are
/// destroyed last: every socket is gone before the context it belongs to.
class ServerImpl {
 public:
  ServerImpl(ServerOptions options, boost::asio::io_context* host);
  ~ServerImpl();

  void start(boost::system::error_code& ec, std::string& context);
  void stop() noexcept;
  void join();
  bool stopped() const noexcept;
  std::uint16_t port(std::size_t index) const;
  ServerStats stats() const;
  std::vector<ConnectionInfo> connections() const;
  void close_connection(std::uint64_t id);
  /// Workers, fixed once start() made them (connection ids encode the worker).
  std::size_t worker_count() const noexcept { return workers_.size(); }
  const ServerOptions& options() const noexcept { return options_; }

  /// The next worker in round-robin order (memcached's select_thread_round_robin).
  /// Only the listener thread calls it.
  Worker& next_worker() noexcept;
  /// Live connections server-wide: the acceptor adds, the worker subtracts on release.
  std::atomic<std::size_t>& live() noexcept { return live_; }
  /// A worker finished draining.
  void worker_finished() noexcept;
  /// The server's log: the sink and the one runtime verbosity. Any thread.
  Logger& logger() noexcept { return logger_; }
  /// Failures tests inject (testing::inject_faults()); empty hooks otherwise.
  const testing::FaultInjection& faults() const noexcept { return faults_; }
  /// Before start() only.
  void set_faults(testing::FaultInjection faults) { faults_ = std::move(faults); }

 private:
  std::string invalid_option() const;
  /// Fills in each listener's empty ListenerOptions::name.
  void name_listeners();
  void open_listeners(boost::system::error_code& ec);
  void close_acceptors_then_drain();

  ServerOptions options_;
  Logger logger_;  // after options_: it refers to options_.log
  testing::FaultInjection faults_;
  boost::asio::io_context* host_;
  // io_contexts first: destroyed after everything that has sockets on them.
  std::unique_ptr<boost::asio::io_context> accept_io_;
  std::vector<std::unique_ptr<boost::asio::io_context>> worker_ios_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> accept_guard_;
  Counters accept_counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<int> datagram_fds_;
  std::vector<std::uint16_t> ports_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> live_{0};
  std::atomic<unsigned> workers_running_{0};
  std::atomic<bool> stop_requested_{false};
  std::size_t next_worker_ = 0;
  bool started_ = false;
};

}  // namespace connkit::detail
