#pragma once

#include "workload.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace loadgen {

/// Echo mode: each request is a SIZE-byte line; it completes when SIZE identical bytes return.
///
/// Request k of connection i is the letters 'a'..'z' rotated by (i + k) % 26, cut to
/// SIZE - 1 bytes, then '\n'. Successive requests differ, so a server that drops,
/// repeats or reorders messages is caught as well as one that alters bytes.
class EchoWorkload final : public Workload {
 public:
  /// Creates the workload for requests of `size` bytes (at least 1).
  explicit EchoWorkload(std::size_t size);

  /// Returns "echo".
  std::string_view name() const override { return "echo"; }

  /// Describes the request size.
  std::string describe() const override;

  /// Creates the session of connection `index`.
  std::unique_ptr<WorkloadSession> make_session(std::size_t index) const override;

 private:
  std::size_t size_;
  std::string alphabet_;  ///< size_ - 1 + 26 letters: request k starts at offset k % 26
};

/// One connection of EchoWorkload: remembers what was sent and compares it with what returns.
class EchoSession final : public WorkloadSession {
 public:
  /// Creates a session sending `size`-byte requests cut from `alphabet`, starting at `first`.
  EchoSession(std::size_t size, std::string_view alphabet, std::uint64_t first);

  /// Appends the next request to `out` and to the bytes expected back.
  void append_request(std::string& out) override;

  /// Compares `input` with the bytes expected next; every SIZE matched bytes complete a request.
  ParseResult consume(std::span<const char> input) override;

 private:
  std::size_t size_;
  std::string_view alphabet_;
  std::uint64_t sequence_;
  std::string expected_;         ///< bytes sent and not yet echoed, from expected_pos_
  std::size_t expected_pos_ = 0;
  std::size_t partial_ = 0;      ///< bytes of the oldest request already echoed
};

}  // namespace loadgen
