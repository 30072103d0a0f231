// cache::Endpoint's read-through loader without the example: a loader in this process that
// completes from its own thread after a short delay (a backend's latency), many clients on
// two workers. Client threads never call Catch2 (it is not thread-safe): they count failures.
#include <connkit/cache/endpoint.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"
#include "support/client.hpp"

using connkit::cache::LoadCompletion;
using connkit::cache::LoadResult;
using connkit::test::Client;
using connkit::test::eventually;
using connkit::test::number_after;
using connkit::test::stats_reply;
using namespace std::chrono_literals;

namespace {

/// A backend on a thread of its own: "none*" keys are missing, "fail*" keys fail, any
/// other key's value is "v:<key>" with flags 7. Each answer comes `delay` after the ask.
class ThreadBackend {
 public:
  explicit ThreadBackend(std::chrono::milliseconds delay) : delay_(delay), thread_([this] { run(); }) {}
  ~ThreadBackend() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_one();
    thread_.join();
  }

  connkit::cache::Loader loader() {
    return [this](std::string_view key, boost::asio::io_context::executor_type, LoadCompletion done) {
      ++loads;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.emplace_back(std::string(key), std::move(done));
      }
      ready_.notify_one();
    };
  }

  std::atomic<int> loads{0};  ///< loader calls

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto [key, done] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      std::this_thread::sleep_for(delay_);  // the backend's latency, not a synchronisation
      const std::string value = "v:" + key;
      LoadResult result;
      result.status = key.rfind("none", 0) == 0   ? LoadResult::Status::not_found
                      : key.rfind("fail", 0) == 0 ? LoadResult::Status::failed
                                                  : LoadResult::Status::found;
      result.value = value;
      result.flags = 7;
      done(result);
      lock.lock();
    }
  }

  std::chrono::milliseconds delay_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::pair<std::string, LoadCompletion>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

/// A store, an endpoint with `loader` and a two-worker server on a free port.
struct LoaderServer : connkit::test::CacheFixture {
  explicit LoaderServer(connkit::cache::Loader loader) : CacheFixture(64u << 20, 1u << 20, {}, 2, with(std::move(loader))) {}
  static connkit::cache::EndpointOptions with(connkit::cache::Loader loader) {
    connkit::cache::EndpointOptions eo;
    eo.loader = std::move(loader);
    return eo;
  }
};

std::string value_reply(const std::string& key) {
  const std::string value = "v:" + key;
  return "VALUE " + key + " 7 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

}  // namespace

TEST_CASE("loaded keys answer get and mg in each connection's order, from another thread, on two workers",
          "[loopback][threads][loader]") {
  ThreadBackend backend(2ms);
  LoaderServer s(backend.loader());
  constexpr int clients = 16;
  constexpr int rounds = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      try {
        Client c = Client::tcp(s.server->port());
        for (int r = 0; r < rounds; ++r) {
          // Shared keys (every client loads or waits on them), keys of this client, missing
          // and failing keys, a multi-get mixing them, an mg, and a set between them.
          const std::string shared = "shared" + std::to_string(r % 5);
          const std::string own = "own" + std::to_string(i) + "_" + std::to_string(r);
          const std::string none = "none" + std::to_string(r);
          const std::string fail = "fail" + std::to_string(i);
          const std::string set_key = "set" + std::to_string(i);
          const std::string request = "get " + shared + " " + none + " " + own + " " + fail + "\r\n" +
                                      "mg " + own + " v f s\r\n" +
                                      "mg " + none + " v O" + std::to_string(r) + "\r\n" +
                                      "mg " + fail + " v q\r\n" +
                                      "set " + set_key + " 0 0 1\r\nx\r\n" +
                                      "get " + set_key + " " + shared + "\r\n" +
                                      "mn\r\n";
          const std::string own_value = "v:" + own;
          const std::string expected = value_reply(shared) + value_reply(own) + "END\r\n" +
                                       "VA " + std::to_string(own_value.size()) + " f7 s" +
                                       std::to_string(own_value.size()) + "\r\n" + own_value + "\r\n" +
                                       "EN O" + std::to_string(r) + "\r\n" +
                                       "STORED\r\n" +
                                       "VALUE " + set_key + " 0 1\r\nx\r\n" + value_reply(shared) + "END\r\n" +
                                       "MN\r\n";
          if (c.roundtrip(request, expected.size()) != expected) ++failures;
        }
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(failures == 0);

  Client c = Client::tcp(s.server->port());
  const std::string stats = stats_reply(c, "stats\r\n");
  // Five shared keys, one per client and round, rounds of missing keys, and the failing
  // keys (each failure leaves nothing, so later rounds load again).
  const auto started = number_after(stats, "STAT load_started ");
  CHECK(started == static_cast<std::uint64_t>(backend.loads.load()));
  CHECK(number_after(stats, "STAT load_found ") == 5 + clients * rounds);
  CHECK(number_after(stats, "STAT load_not_found ") + number_after(stats, "STAT load_failed ") + 5 + clients * rounds ==
        started);
  CHECK(number_after(stats, "STAT load_not_stored ") == 0);
}

TEST_CASE("concurrent misses on one key wait for one load, and a later request is a plain hit",
          "[loopback][threads][loader]") {
  ThreadBackend backend(300ms);
  LoaderServer s(backend.loader());
  constexpr int clients = 20;
  std::vector<Client> connections;
  for (int i = 0; i < clients; ++i) connections.push_back(Client::tcp(s.server->port()));
  for (Client& c : connections) REQUIRE(c.send_all("get hot\r\n"));
  for (Client& c : connections) CHECK(c.recv_n(value_reply("hot").size() + 5) == value_reply("hot") + "END\r\n");
  CHECK(backend.loads == 1);
  EXPECT_REPLY(connections.front(), "get hot\r\n", value_reply("hot") + "END\r\n");
  CHECK(backend.loads == 1);
  const std::string stats = stats_reply(connections.front(), "stats\r\n");
  CHECK(number_after(stats, "STAT load_started ") == 1);
  CHECK(number_after(stats, "STAT load_coalesced ") == clients - 1);  // all asked within the 300 ms load
  CHECK(number_after(stats, "STAT load_found ") == 1);
}

TEST_CASE("without a loader a miss is a miss and stats has no load lines", "[loopback][loader]") {
  connkit::test::CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "get nothing\r\n", "END\r\n");
  EXPECT_REPLY(c, "mg nothing v\r\n", "EN\r\n");
  CHECK(stats_reply(c, "stats\r\n").find("load_") == std::string::npos);
}

TEST_CASE("a loader that completes before it returns answers in place", "[loopback][threads][loader]") {
  std::atomic<int> loads{0};
  LoaderServer s([&loads](std::string_view key, boost::asio::io_context::executor_type, LoadCompletion done) {
    ++loads;
    LoadResult r;
    r.status = key.rfind("there", 0) == 0 ? LoadResult::Status::found : LoadResult::Status::not_found;
    r.value = "here";
    done(r);
    done(r);  // a second call does nothing
  });
  Client c = Client::tcp(s.server->port());
  EXPECT_REPLY(c, "get a there b\r\n", "VALUE there 0 4\r\nhere\r\nEND\r\n");
  EXPECT_REPLY(c, "mg there2 v k f\r\n", "VA 4 kthere2 f0\r\nhere\r\n");
  EXPECT_REPLY(c, "mg nope v k q\r\nmn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "mg nope v k\r\n", "EN knope\r\n");
  CHECK(loads == 6);
}
