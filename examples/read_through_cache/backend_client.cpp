#include "backend_client.hpp"

#include <cstdio>
#include <memory>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "backend_reply.hpp"

namespace connkit::examples {
namespace {

using boost::asio::ip::tcp;
using Executor = boost::asio::io_context::executor_type;

/// One connection to the backend, used by one get at a time.
struct BackendConnection {
  explicit BackendConnection(const Executor& executor) : socket(executor) {}
  tcp::socket socket;
  bool connected = false;
};

/// The idle connections of this worker thread (every completion of a worker's executor
/// runs on its thread, so no lock). Closed when the thread exits, before its io_context goes.
constexpr std::size_t max_idle = 8;
thread_local std::vector<std::unique_ptr<BackendConnection>> idle_connections;

/// One `get`: connect if needed, send, read until the reply is whole, under a deadline.
class BackendGet : public std::enable_shared_from_this<BackendGet> {
 public:
  BackendGet(const BackendClient& client, std::string_view key, const Executor& executor,
             cache::LoadCompletion done, std::chrono::milliseconds timeout, int verbosity)
      : client_(client), key_(key), done_(std::move(done)), executor_(executor), timer_(executor), timeout_(timeout),
        verbosity_(verbosity) {
    if (!idle_connections.empty()) {
      connection_ = std::move(idle_connections.back());
      idle_connections.pop_back();
      reused_ = true;
    } else {
      connection_ = std::make_unique<BackendConnection>(executor);
    }
  }

  void start(const tcp::endpoint& backend) {
    backend_ = backend;
    request_ = "get " + key_ + "\r\n";
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->connection_->socket.close(ignored);  // the pending operation ends with operation_aborted
    });
    if (connection_->connected) return send();
    connect();
  }

 private:
  void connect() {
    connection_->socket.async_connect(backend_, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return self->fail("connect", ec);
      self->connection_->connected = true;
      boost::system::error_code ignored;
      self->connection_->socket.set_option(tcp::no_delay(true), ignored);
      self->send();
    });
  }

  void send() {
    boost::asio::async_write(connection_->socket, boost::asio::buffer(request_),
                             [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                               if (ec) return self->fail("send", ec);
                               self->receive();
                             });
  }

  void receive() {
    const std::size_t old_size = reply_.size();
    reply_.resize(old_size + 16384);
    connection_->socket.async_read_some(
        boost::asio::buffer(reply_.data() + old_size, 16384),
        [self = shared_from_this(), old_size](const boost::system::error_code& ec, std::size_t n) {
          self->reply_.resize(old_size + n);
          if (ec) return self->fail("receive", ec);
          self->parse();
        });
  }

  void parse() {
    const BackendReply reply = parse_get_reply(reply_, key_);
    cache::LoadResult result;
    switch (reply.status) {
      case BackendReply::Status::need_more: return receive();
      case BackendReply::Status::bad: return fail("reply", {}, "not a reply to get");
      case BackendReply::Status::found:
        result.status = cache::LoadResult::Status::found;
        result.value = reply.value;
        result.flags = reply.flags;
        break;
      case BackendReply::Status::not_found: result.status = cache::LoadResult::Status::not_found; break;
    }
    finished_ = true;
    timer_.cancel();
    if (idle_connections.size() < max_idle) idle_connections.push_back(std::move(connection_));
    done_(result);  // copies the value out of reply_
  }

  void fail(const char* step, boost::system::error_code ec, const char* what = nullptr) {
    if (finished_) return;
    boost::system::error_code ignored;
    connection_->socket.close(ignored);  // never reused
    if (reused_ && !timed_out_ && what == nullptr && reply_.empty()) {
      // The backend closed this idle connection meanwhile (a restart): once more on a new one.
      reused_ = false;
      connection_ = std::make_unique<BackendConnection>(executor_);
      return connect();
    }
    finished_ = true;
    timer_.cancel();
    if (verbosity_ >= 1) {
      const std::string error = timed_out_ ? "timed out after " + std::to_string(timeout_.count()) + " ms"
                                           : what != nullptr ? what : ec.message();
      std::fprintf(stderr, "read_through_cache: backend %s: get %s: %s: %s\n", client_.name().c_str(), key_.c_str(),
                   step, error.c_str());
    }
    cache::LoadResult result;
    result.status = timed_out_ ? cache::LoadResult::Status::timed_out : cache::LoadResult::Status::failed;
    done_(result);
  }

  const BackendClient& client_;
  std::string key_;
  cache::LoadCompletion done_;
  Executor executor_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  int verbosity_;
  std::unique_ptr<BackendConnection> connection_;
  bool reused_ = false;  // connection_ came from the idle pool
  tcp::endpoint backend_;
  std::string request_;
  std::string reply_;
  bool finished_ = false;
  bool timed_out_ = false;
};

}  // namespace

BackendClient::BackendClient(tcp::endpoint backend, std::chrono::milliseconds timeout, int verbosity)
    : backend_(std::move(backend)), timeout_(timeout), verbosity_(verbosity) {
  const bool v6 = backend_.address().is_v6();
  const std::string host = backend_.address().to_string();
  name_ = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(backend_.port());
}

void BackendClient::load(std::string_view key, Executor executor, cache::LoadCompletion done) const {
  std::make_shared<BackendGet>(*this, key, executor, std::move(done), timeout_, verbosity_)->start(backend_);
}

}  // namespace connkit::examples
