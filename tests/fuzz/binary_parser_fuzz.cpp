// libFuzzer target: parse_binary (lib/cache/binary_parser.hpp) on any bytes: one binary
// request's header, extras and key (the value is the caller's). Beyond parse_checked()'s
// invariants: a complete request is at least a header; any shorter cut of it, the header
// alone included, is need_more (its bytes are still on their way).
#include <cstddef>
#include <cstdint>
#include <span>

#include "cache/binary_parser.hpp"
#include "parser_checks.hpp"

namespace {

constexpr std::size_t header_size = 24;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace connkit::fuzz;
  const std::span input(reinterpret_cast<const char*>(data), size);
  const ParseLimits limits;
  Request out{};
  if (parse_checked(connkit::cache::detail::parse_binary, input, out, limits) != ParseStatus::complete) return 0;
  require(out.size >= header_size, "a complete binary request shorter than its header");
  for (const std::size_t cut : {out.size - 1, header_size - 1, header_size}) {
    if (cut >= out.size) continue;
    Request partial{};
    require(parse_checked(connkit::cache::detail::parse_binary, input.first(cut), partial, limits) ==
                ParseStatus::need_more,
            "a cut of a complete binary request is not need_more");
  }
  return 0;
}
