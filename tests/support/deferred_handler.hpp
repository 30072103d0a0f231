#pragma once

// A line protocol whose replies may come later, for the deferred-reply tests:
//   now X     -> "X\r\n" at once
//   later X   -> "X\r\n" given later by the listener's Completer (another thread, a timer...)
//   split A B -> "A\r\n" later, "mid\r\n" at once, "B\r\n" later (two holes in one request)
//   quit      -> flush, then close
// Anything else gets "ERROR\r\n".

#include <utility>  // before Asio (Boost 1.74)

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include <connkit/connkit.hpp>

namespace connkit::test {

/// Where a deferred request goes: completes `reply` with `text` (+ "\r\n") some time later.
class Completer {
 public:
  virtual ~Completer() = default;
  virtual void take(Connection& conn, DeferredReply reply, std::string_view text) = 0;
};

/// Completes from its own threads: each job goes to one of `threads` queues (round robin
/// per call), so replies of one connection complete out of order. Queues are fixed-size
/// rings: taking a job allocates nothing.
class ThreadCompleter final : public Completer {
 public:
  explicit ThreadCompleter(unsigned threads) : queues_(threads) {
    for (Queue& q : queues_) q.thread = std::thread([this, &q] { run(q); });
  }
  ~ThreadCompleter() override {
    for (Queue& q : queues_) {
      {
        std::lock_guard<std::mutex> lock(q.mutex);
        q.stop = true;
      }
      q.cv.notify_one();
    }
    for (Queue& q : queues_) q.thread.join();
  }
  void take(Connection&, DeferredReply reply, std::string_view text) override {
    Queue& q = queues_[next_.fetch_add(1, std::memory_order_relaxed) % queues_.size()];
    std::unique_lock<std::mutex> lock(q.mutex);
    q.cv.wait(lock, [&] { return q.count < q.jobs.size(); });
    Job& j = q.jobs[(q.head + q.count++) % q.jobs.size()];
    j.reply = reply;
    j.size = std::min(text.size(), sizeof j.text);
    std::memcpy(j.text, text.data(), j.size);
    lock.unlock();
    q.cv.notify_all();
  }
  /// Handles that were stale when completed (their connection closed first).
  long stale() const noexcept { return stale_.load(); }

 private:
  struct Job {
    DeferredReply reply;
    char text[48];
    std::size_t size = 0;
  };
  struct Queue {
    std::array<Job, 256> jobs;
    std::size_t head = 0, count = 0;
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;
  };
  void run(Queue& q) {
    for (;;) {
      std::unique_lock<std::mutex> lock(q.mutex);
      q.cv.wait(lock, [&] { return q.stop || q.count != 0; });
      if (q.count == 0) return;
      Job j = q.jobs[q.head];
      q.head = (q.head + 1) % q.jobs.size();
      --q.count;
      lock.unlock();
      q.cv.notify_all();
      const bool given = j.reply.complete_with([&](std::string& out) {
        out.append(j.text, j.size);
        out.append("\r\n");
      });
      if (!given) stale_.fetch_add(1);
    }
  }
  std::vector<Queue> queues_;
  std::atomic<unsigned> next_{0};
  std::atomic<long> stale_{0};
};

/// Keeps every handle; the test completes them when it likes (any thread).
class ManualCompleter final : public Completer {
 public:
  struct Held {
    DeferredReply reply;
    std::string text;
    std::uint64_t connection = 0;
  };
  void take(Connection& conn, DeferredReply reply, std::string_view text) override {
    std::lock_guard<std::mutex> lock(mutex_);
    held_.push_back({reply, std::string(text), conn.id()});
    most_in_flight_ = std::max(most_in_flight_, conn.deferred());
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.size();
  }
  Held at(std::size_t i) {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.at(i);
  }
  /// Completes handle `i` with its text; false if it was stale.
  bool complete(std::size_t i) {
    Held h = at(i);
    return h.reply.complete(h.text + "\r\n");
  }
  std::size_t most_in_flight() {
    std::lock_guard<std::mutex> lock(mutex_);
    return most_in_flight_;
  }

 private:
  std::mutex mutex_;
  std::vector<Held> held_;
  std::size_t most_in_flight_ = 0;
};

/// Completes on the connection's own thread from an Asio timer made with its executor.
class TimerCompleter final : public Completer {
 public:
  explicit TimerCompleter(std::chrono::milliseconds delay) : delay_(delay) {}
  void take(Connection& conn, DeferredReply reply, std::string_view text) override {
    auto timer = std::make_shared<boost::asio::steady_timer>(conn.executor(), delay_);
    timer->async_wait([timer, reply, text = std::string(text), this, ex = conn.executor()](
                          const boost::system::error_code& ec) mutable {
      on_thread += ex.running_in_this_thread() ? 1 : 0;
      if (!ec) reply.complete(text + "\r\n");
    });
  }
  /// Timer handlers that ran on the connection's own worker thread.
  std::atomic<int> on_thread{0};

 private:
  std::chrono::milliseconds delay_;
};

/// The handler of the protocol above; `completer` outlives the Server.
class DeferredLineHandler final : public ProtocolHandler {
 public:
  explicit DeferredLineHandler(Completer& completer) : completer_(completer) {}

  Action on_input(Connection& conn, std::span<const char> input) override {
    const std::string_view in(input.data(), input.size());
    const std::size_t eol = in.find('\n');
    if (eol == std::string_view::npos) return Action::need_more();
    std::string_view line = in.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t used = eol + 1;
    if (line.starts_with("now ")) {
      conn.reply(line.substr(4));
      conn.reply("\r\n");
      return Action::consumed(used);
    }
    if (line.starts_with("later ")) {
      completer_.take(conn, conn.defer(), line.substr(6));
      return Action::defer(used);
    }
    if (line.starts_with("split ")) {
      const std::string_view args = line.substr(6);
      const std::size_t space = args.find(' ');
      completer_.take(conn, conn.defer(), args.substr(0, space));
      conn.reply("mid\r\n");
      completer_.take(conn, conn.defer(), space == std::string_view::npos ? "" : args.substr(space + 1));
      return Action::defer(used);
    }
    if (line == "quit") return Action::write_and_close(used);
    conn.reply("ERROR\r\n");
    return Action::consumed(used);
  }

 private:
  Completer& completer_;
};

/// One TCP listener on 127.0.0.1 (free port) speaking the protocol above.
inline ServerOptions deferred_options(Completer& completer, unsigned threads = 1, unsigned max_deferred = 16) {
  ServerOptions o;
  o.threads = threads;
  ListenerOptions l;
  l.max_deferred = max_deferred;
  l.handler = [&completer] { return std::make_unique<DeferredLineHandler>(completer); };
  o.listeners.push_back(std::move(l));
  return o;
}

}  // namespace connkit::test
