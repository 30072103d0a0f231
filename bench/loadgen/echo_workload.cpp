#include "echo_workload.hpp"

#include <algorithm>
#include <cstring>

namespace loadgen {

namespace {

constexpr std::size_t letters = 26;
constexpr std::size_t compact_threshold = 64 * 1024;  // drop echoed bytes once this many pile up

}  // namespace

EchoWorkload::EchoWorkload(std::size_t size) : size_(std::max<std::size_t>(size, 1)) {
  alphabet_.resize(size_ - 1 + letters);
  for (std::size_t i = 0; i < alphabet_.size(); ++i) alphabet_[i] = static_cast<char>('a' + i % letters);
}

std::string EchoWorkload::describe() const {
  return "echo: " + std::to_string(size_) + "-byte lines, each echoed byte checked";
}

std::unique_ptr<WorkloadSession> EchoWorkload::make_session(std::size_t index) const {
  return std::make_unique<EchoSession>(size_, alphabet_, index);
}

EchoSession::EchoSession(std::size_t size, std::string_view alphabet, std::uint64_t first)
    : size_(size), alphabet_(alphabet), sequence_(first) {}

void EchoSession::append_request(std::string& out) {
  const std::size_t start = out.size();
  out.append(alphabet_.data() + sequence_ % letters, size_ - 1);
  out.push_back('\n');
  expected_.append(out, start, size_);
  ++sequence_;
}

ParseResult EchoSession::consume(std::span<const char> input) {
  ParseResult result;
  result.consumed = input.size();
  const std::size_t outstanding = expected_.size() - expected_pos_;
  const std::size_t checked = std::min(input.size(), outstanding);
  const char* expected = expected_.data() + expected_pos_;
  if (checked != 0 && std::memcmp(input.data(), expected, checked) != 0) {
    for (std::size_t i = 0; i < checked; ++i) result.mismatches += input[i] != expected[i] ? 1 : 0;
  }
  if (input.size() > outstanding) {
    result.mismatches += input.size() - outstanding;
    result.fatal = true;
    result.error = "server sent " + std::to_string(input.size() - outstanding) +
                   " byte(s) more than were sent to it";
  }
  expected_pos_ += checked;
  const std::size_t echoed = partial_ + checked;
  result.completed = echoed / size_;
  partial_ = echoed % size_;
  if (expected_pos_ == expected_.size()) {
    expected_.clear();
    expected_pos_ = 0;
  } else if (expected_pos_ >= compact_threshold) {
    expected_.erase(0, expected_pos_);
    expected_pos_ = 0;
  }
  return result;
}

}  // namespace loadgen
