#pragma once
// The text and meta targets' shared check: one command line through parse_text.
#include <algorithm>
#include <cstddef>
#include <span>

#include "cache/text_parser.hpp"
#include "parser_checks.hpp"

namespace connkit::fuzz {

// Parses `input` as one text or meta command line and checks, beyond parse_checked(): a
// complete request is the line up to its first "\n", that "\n" included; the same line
// without its "\n" is need_more, as long as it is shorter than the line limit (at the limit
// a parser may give up on it).
inline void check_text_line(std::span<const char> input) {
  const ParseLimits limits;
  Request out{};
  const ParseStatus status = parse_checked(cache::detail::parse_text, input, out, limits);
  if (status != ParseStatus::complete) return;
  const auto newline = static_cast<std::size_t>(std::find(input.begin(), input.end(), '\n') - input.begin());
  require(newline + 1 == out.size, "a complete text request does not end at the line's first \"\\n\"");
  if (newline >= limits.max_line) return;
  Request partial{};
  require(parse_checked(cache::detail::parse_text, input.first(newline), partial, limits) == ParseStatus::need_more,
          "a complete line without its \"\\n\" is not need_more");
}

}  // namespace connkit::fuzz
