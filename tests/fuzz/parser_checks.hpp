#pragma once
// Invariants every pure parser of lib/cache/request.hpp keeps, checked by the parser fuzz
// targets: a parse reads only its input, says the same thing twice, and never claims
// more bytes than it was given (docs/fuzzing.md).
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "cache/request.hpp"

namespace connkit::fuzz {

using cache::detail::ParseLimits;
using cache::detail::ParseStatus;
using cache::detail::Request;

// Fails the run: libFuzzer saves the input as a crash artifact.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "parser invariant broken: %s\n", what);
  std::abort();
}

// Parses `input` twice with `parse` and checks both parses agree and stay within `input`;
// returns the status, with `out` from the first parse.
template <class Parse>
ParseStatus parse_checked(Parse parse, std::span<const char> input, Request& out, const ParseLimits& limits) {
  const ParseStatus status = parse(input, out, limits);
  Request again{};
  const ParseStatus status_again = parse(input, again, limits);
  require(status == status_again, "two parses of the same bytes gave different statuses");
  if (status != ParseStatus::need_more) {
    require(out.size <= input.size(), "the request claims more bytes than the input has");
    require(out.size == again.size, "two parses of the same bytes consumed different sizes");
  }
  // A complete request consumes something: a caller that loops on complete must move on.
  if (status == ParseStatus::complete) require(out.size > 0, "a complete request of 0 bytes");
  return status;
}

}  // namespace connkit::fuzz
