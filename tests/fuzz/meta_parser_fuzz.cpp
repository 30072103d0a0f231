// libFuzzer target: parse_text (lib/cache/text_parser.hpp) on meta command lines. Byte 0
// picks the command ("mg ", "ms ", "md ", "ma ", "me " or "mn"); the rest follows it, so
// the fuzzer spends its time on keys and flags rather than on finding the command names.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "text_line_checks.hpp"

namespace {

constexpr std::string_view commands[] = {"mg ", "ms ", "md ", "ma ", "me ", "mn"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string line(commands[data[0] % std::size(commands)]);
  line.append(reinterpret_cast<const char*>(data + 1), size - 1);
  connkit::fuzz::check_text_line(std::span<const char>(line.data(), line.size()));
  return 0;
}
