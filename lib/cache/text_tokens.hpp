#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace connkit::cache::detail {

/// memcached's tokenizer keeps at most 24 tokens, the last one a terminator.
inline constexpr std::size_t max_tokens = 24;

/// One command line split on spaces (memcached's token_t array). Views into the line.
struct Tokens {
  std::string_view token[max_tokens];
  std::size_t count = 0;        ///< memcached's ntokens: real tokens + the terminator
  std::string_view rest;        ///< what a full tokenizer left unscanned (get keys)
};

/// memcached's tokenize_command(): split on single spaces, keep max_tokens - 1 tokens and
/// a terminator; a terminator whose value is not null means the line was not fully scanned.
/// Pure, so the text protocol handler and the microbenchmarks run the same code.
inline void tokenize(std::string_view line, Tokens& out) noexcept {
  out.count = 0;
  std::size_t i = 0;
  while (i < line.size() && out.count < max_tokens - 1) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    const std::size_t end = std::min(line.find(' ', i), line.size());  // memchr, not a byte loop
    out.token[out.count++] = line.substr(i, end - i);
    i = end;
  }
  while (i < line.size() && line[i] == ' ') ++i;
  out.rest = line.substr(i);
  out.token[out.count++] = std::string_view();  // the terminator
}

}  // namespace connkit::cache::detail
