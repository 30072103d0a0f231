#include "connection.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include <cstring>

namespace loadgen {

namespace {

constexpr std::size_t initial_input_size = 64 * 1024;
constexpr std::size_t max_input_size = 64 * 1024 * 1024;  // one unparsed response may not exceed this

}  // namespace

Connection::Connection(boost::asio::io_context& io, std::size_t index,
                       std::unique_ptr<WorkloadSession> session, std::size_t depth, RunControl& control,
                       WorkerStats& stats)
    : socket_(io),
      index_(index),
      session_(std::move(session)),
      control_(control),
      stats_(stats),
      sent_at_(depth),
      input_(initial_input_size) {}

void Connection::connect(const boost::asio::ip::tcp::resolver::results_type& endpoints) {
  boost::asio::connect(socket_, endpoints);
  socket_.set_option(boost::asio::ip::tcp::no_delay(true));
}

void Connection::start() {
  issue(sent_at_.size());
  do_read();
}

bool Connection::oldest_in_flight(Clock::time_point& made_at) const {
  if (in_flight_ == 0) return false;
  made_at = sent_at_[sent_head_];
  return true;
}

void Connection::issue(std::size_t count) {
  const Clock::time_point now = Clock::now();
  for (std::size_t i = 0; i < count; ++i) {
    session_->append_request(pending_);
    sent_at_[(sent_head_ + in_flight_) % sent_at_.size()] = now;
    ++in_flight_;
  }
  if (!write_active_) write_pending();
}

void Connection::write_pending() {
  writing_.swap(pending_);
  pending_.clear();
  write_active_ = true;
  boost::asio::async_write(socket_, boost::asio::buffer(writing_),
                           [this](const boost::system::error_code& ec, std::size_t) { on_write(ec); });
}

void Connection::on_write(const boost::system::error_code& ec) {
  write_active_ = false;
  if (failed_) return;
  if (ec) {
    fail("write: " + ec.message());
    return;
  }
  if (!pending_.empty()) write_pending();
}

void Connection::do_read() {
  socket_.async_read_some(
      boost::asio::buffer(input_.data() + input_used_, input_.size() - input_used_),
      [this](const boost::system::error_code& ec, std::size_t length) { on_read(ec, length); });
}

void Connection::on_read(const boost::system::error_code& ec, std::size_t length) {
  if (failed_) return;
  if (ec) {
    fail(ec == boost::asio::error::eof ? std::string("server closed the connection")
                                       : "read: " + ec.message());
    return;
  }
  input_used_ += length;
  ParseResult result = session_->consume({input_.data(), input_used_});
  stats_.mismatches += result.mismatches;
  if (result.fatal) {
    fail(result.error);
    return;
  }
  if (result.completed > in_flight_) {
    fail("more responses than requests in flight");
    return;
  }
  if (result.consumed < input_used_) {
    std::memmove(input_.data(), input_.data() + result.consumed, input_used_ - result.consumed);
  }
  input_used_ -= result.consumed;
  if (input_used_ == input_.size()) {
    if (input_.size() >= max_input_size) {
      fail("a response is larger than " + std::to_string(max_input_size) + " bytes");
      return;
    }
    input_.resize(input_.size() * 2);
  }
  if (result.completed != 0) {
    complete(result.completed);
    issue(result.completed);
  }
  do_read();
}

void Connection::complete(std::size_t count) {
  const Clock::time_point now = Clock::now();
  const bool measuring = control_.phase() == Phase::measure;
  for (std::size_t i = 0; i < count; ++i) {
    const Clock::time_point sent = sent_at_[sent_head_];
    sent_head_ = (sent_head_ + 1) % sent_at_.size();
    --in_flight_;
    if (measuring && control_.claim_op()) {
      const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent).count();
      stats_.histogram.record(latency > 0 ? static_cast<std::uint64_t>(latency) : 0);
    }
  }
  stats_.completed.fetch_add(count, std::memory_order_relaxed);
}

void Connection::fail(const std::string& message) {
  failed_ = true;
  control_.fail("connection " + std::to_string(index_) + ": " + message);
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace loadgen
