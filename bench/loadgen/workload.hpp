#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace loadgen {

struct Options;

/// What a WorkloadSession made of the bytes it was given.
struct ParseResult {
  std::size_t consumed = 0;      ///< bytes used; the rest is offered again with more input
  std::size_t completed = 0;     ///< responses finished, oldest request first
  std::uint64_t mismatches = 0;  ///< bytes (or responses) that differ from what was expected
  bool fatal = false;            ///< the stream cannot be followed any more: stop the run
  std::string error;             ///< why, when fatal
};

/// The protocol state of one connection: writes requests and checks their responses.
///
/// Responses must come back in request order (true for echo and for memcached's text
/// and binary protocols on one connection); the Connection pairs them with send times.
class WorkloadSession {
 public:
  virtual ~WorkloadSession() = default;

  /// Appends the bytes of one new request to `out`.
  virtual void append_request(std::string& out) = 0;

  /// Parses received bytes that follow what was consumed before.
  virtual ParseResult consume(std::span<const char> input) = 0;
};

/// A benchmark mode: creates the protocol session of each connection.
class Workload {
 public:
  virtual ~Workload() = default;

  /// The mode's name, as given to -m.
  virtual std::string_view name() const = 0;

  /// One line describing the workload's parameters, for the report.
  virtual std::string describe() const = 0;

  /// Creates the session of connection number `index`; it may refer to this Workload.
  virtual std::unique_ptr<WorkloadSession> make_session(std::size_t index) const = 0;

  /// Prepares the server before any connection is made (e.g. loads data); throws on failure.
  virtual void prepare(const std::string& /*host*/, std::uint16_t /*port*/) const {}

  /// Mode-specific results for the report after the run; empty if none.
  virtual std::string summary() const { return {}; }

  /// What ParseResult::mismatches counts, for messages.
  virtual std::string_view mismatch_unit() const { return "response byte(s)"; }
};

/// Creates the workload named by options.mode; nullptr if there is no such mode.
std::unique_ptr<Workload> make_workload(const Options& options);

/// The mode names make_workload knows, separated by ", ".
std::string_view workload_names();

}  // namespace loadgen
