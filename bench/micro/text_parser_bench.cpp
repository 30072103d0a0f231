// The cache endpoint's text protocol: tokenizing typical command lines with the handler's own
// tokenize() (lib/cache/text_tokens.hpp), plus the argument conversions a set line needs.
// Lines are given without "\r\n", as TextHandler::on_input passes them to the tokenizer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "cache/numbers.hpp"
#include "cache/text_tokens.hpp"
#include "keys.hpp"

namespace {

using connkit::cache::detail::Tokens;
using connkit::cache::detail::tokenize;

constexpr std::size_t line_count = 1024;  // distinct lines cycled through, so nothing folds

std::vector<std::string> make_lines(std::size_t keys_per_line, const char* command, const char* suffix) {
  const std::vector<std::string> keys = connkit::bench::make_keys(line_count * keys_per_line);
  std::vector<std::string> lines;
  lines.reserve(line_count);
  for (std::size_t i = 0; i < line_count; ++i) {
    std::string line = command;
    for (std::size_t k = 0; k < keys_per_line; ++k) line += ' ' + keys[i * keys_per_line + k];
    lines.push_back(line + suffix);
  }
  return lines;
}

/// Runs `parse` on every line in turn (it returns false if the line did not parse);
/// reports lines and bytes per second.
template <class Parse>
void parse_lines(benchmark::State& state, const std::vector<std::string>& lines, Parse parse) {
  std::size_t i = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string& line = lines[i];
    i = (i + 1) % lines.size();
    if (!parse(std::string_view(line))) {
      state.SkipWithError("a line did not parse");
      break;
    }
    bytes += line.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void tokenize_lines(benchmark::State& state, const std::vector<std::string>& lines) {
  Tokens t;
  parse_lines(state, lines, [&t](std::string_view line) {
    tokenize(line, t);
    benchmark::DoNotOptimize(t);
    return t.count > 2;
  });
}

void BM_TokenizeGet(benchmark::State& state) {
  tokenize_lines(state, make_lines(1, "get", ""));
}
BENCHMARK(BM_TokenizeGet);

void BM_TokenizeMultiGet10(benchmark::State& state) {
  tokenize_lines(state, make_lines(10, "get", ""));
}
BENCHMARK(BM_TokenizeMultiGet10);

void BM_TokenizeSet(benchmark::State& state) {
  tokenize_lines(state, make_lines(1, "set", " 0 0 100"));
}
BENCHMARK(BM_TokenizeSet);

// A set line as far as TextHandler::process_update takes it before allocating the item:
// tokenize, then flags, exptime and length with memcached's safe_strto* conversions.
void BM_ParseSetArguments(benchmark::State& state) {
  using connkit::cache::detail::safe_strtol;
  using connkit::cache::detail::safe_strtoul;
  Tokens t;
  parse_lines(state, make_lines(1, "set", " 0 0 100"), [&t](std::string_view line) {
    tokenize(line, t);
    std::uint32_t flags = 0;
    std::int32_t exptime = 0;
    std::int32_t length = 0;
    const bool ok = t.count == 6 && safe_strtoul(t.token[2], flags) && safe_strtol(t.token[3], exptime) &&
                    safe_strtol(t.token[4], length);
    benchmark::DoNotOptimize(flags);
    benchmark::DoNotOptimize(exptime);
    benchmark::DoNotOptimize(length);
    return ok && length == 100;
  });
}
BENCHMARK(BM_ParseSetArguments);

}  // namespace
