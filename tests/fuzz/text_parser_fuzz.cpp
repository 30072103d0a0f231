// libFuzzer target: parse_text (lib/cache/text_parser.hpp) on any bytes, one command line
// at a time, with the invariants of text_line_checks.hpp. Memory errors and undefined
// behaviour are the sanitizers' to find.
#include <cstddef>
#include <cstdint>
#include <span>

#include "text_line_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  connkit::fuzz::check_text_line(std::span(reinterpret_cast<const char*>(data), size));
  return 0;
}
