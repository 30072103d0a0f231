// memcached's number parsers (lib/cache/numbers.hpp) at their edges, then the same edges over
// a socket: memcached 1.6.18 truncates values past 32 bits instead of refusing them.
#include "cache/numbers.hpp"

#include <climits>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"

namespace {

using connkit::cache::detail::safe_strtol;
using connkit::cache::detail::safe_strtoul;
using connkit::cache::detail::safe_strtoull;

/// safe_strtol's answer as text: the number, or "refused".
std::string strtol_of(std::string_view token) {
  std::int32_t out = 12345;
  const bool ok = safe_strtol(token, out);
  if (!ok) return out == 0 ? "refused" : "refused, out not zeroed";
  return std::to_string(out);
}

std::string strtoul_of(std::string_view token) {
  std::uint32_t out = 12345;
  const bool ok = safe_strtoul(token, out);
  if (!ok) return out == 0 ? "refused" : "refused, out not zeroed";
  return std::to_string(out);
}

std::string strtoull_of(std::string_view token) {
  std::uint64_t out = 12345;
  const bool ok = safe_strtoull(token, out);
  if (!ok) return out == 0 ? "refused" : "refused, out not zeroed";
  return std::to_string(out);
}

}  // namespace

TEST_CASE("safe_strtol keeps the low 32 bits of a long, as memcached on LP64", "[cache][numbers]") {
  CHECK(strtol_of("100") == "100");
  CHECK(strtol_of("-1") == "-1");
  CHECK(strtol_of("2147483647") == "2147483647");
  CHECK(strtol_of("2147483648") == "-2147483648");
  CHECK(strtol_of("4294967296") == "0");
  CHECK(strtol_of("4294967396") == "100");
  CHECK(strtol_of("4000000000") == "-294967296");
  CHECK(strtol_of("-4294967297") == "-1");
  CHECK(strtol_of("9223372036854775807") == "-1");   // LONG_MAX: low 32 bits all ones
  CHECK(strtol_of("-9223372036854775808") == "0");   // LONG_MIN
}

TEST_CASE("safe_strtol refuses ERANGE, no digits and trailing garbage", "[cache][numbers]") {
  CHECK(strtol_of("9223372036854775808") == "refused");
  CHECK(strtol_of("-9223372036854775809") == "refused");
  CHECK(strtol_of("") == "refused");
  CHECK(strtol_of("abc") == "refused");
  CHECK(strtol_of("-") == "refused");
  CHECK(strtol_of("5x") == "refused");
  CHECK(strtol_of("0x10") == "refused");
}

TEST_CASE("the parsers take what strtol takes and stop at any C-locale blank", "[cache][numbers]") {
  CHECK(strtol_of("+5") == "5");
  CHECK(strtol_of("\t7") == "7");
  CHECK(strtol_of("-0") == "0");
  CHECK(strtol_of("5\r") == "5");
  CHECK(strtol_of("5\v") == "5");
  CHECK(strtol_of("5\f") == "5");
  CHECK(strtol_of("5\n") == "5");
  CHECK(strtol_of("5\tjunk") == "5");
  CHECK(strtoul_of("5\v") == "5");
  CHECK(strtoull_of("5\f") == "5");
  // A token past the 63-byte stack copy: only leading zeros make such a token a number.
  const std::string zeros(200, '0');
  CHECK(strtol_of(zeros + "42") == "42");
  CHECK(strtoul_of(zeros + "4294967297") == "1");
  CHECK(strtoull_of(zeros + "18446744073709551615") == "18446744073709551615");
  CHECK(strtol_of(zeros + "42x") == "refused");
}

TEST_CASE("safe_strtoul keeps the low 32 bits and refuses negative numbers only by their sign",
          "[cache][numbers]") {
  CHECK(strtoul_of("4294967295") == "4294967295");
  CHECK(strtoul_of("4294967296") == "0");
  CHECK(strtoul_of("4294967297") == "1");
  CHECK(strtoul_of("18446744073709551615") == "4294967295");  // top bit set, no '-': kept
  CHECK(strtoul_of("18446744073709551616") == "refused");      // ERANGE
  CHECK(strtoul_of("-1") == "refused");
  CHECK(strtoul_of("-4294967295") == "refused");
  CHECK(strtoul_of("-0") == "0");
  CHECK(strtoul_of("-5000000000") == "refused");
  // strtoul negates "-5" to 2^64 - 5 (top bit set), and the '-' refuses it...
  CHECK(strtoul_of("-5") == "refused");
  // ...wherever the '-' is in the token, as memcached's strchr() looks past the number.
  CHECK(strtoul_of("18446744073709551615\t-") == "refused");
  CHECK(strtoul_of("5\t-") == "5");  // top bit clear: the '-' is never looked for
  CHECK(strtoul_of("abc") == "refused");
}

TEST_CASE("safe_strtoull takes all 64 bits and refuses a sign only on a value past 2^63", "[cache][numbers]") {
  CHECK(strtoull_of("18446744073709551615") == "18446744073709551615");
  CHECK(strtoull_of("18446744073709551616") == "refused");
  CHECK(strtoull_of("9223372036854775808") == "9223372036854775808");
  CHECK(strtoull_of("-1") == "refused");
  CHECK(strtoull_of("-9223372036854775807") == "refused");
  CHECK(strtoull_of("-0") == "0");
  CHECK(strtoull_of("1-") == "refused");
}

TEST_CASE("over the text protocol, numbers past 32 bits wrap as memcached's do", "[cache][numbers][expiry]") {
  connkit::test::CacheFixture f;
  connkit::test::Client c = f.client();
  SECTION("an exptime of 4294967396 is 100 seconds from now") {
    EXPECT_REPLY(c, "set k 0 4294967396 1\r\nx\r\n", "STORED\r\n");
    f.now += 99;
    EXPECT_REPLY(c, "get k\r\n", "VALUE k 0 1\r\nx\r\nEND\r\n");
    f.now += 1;
    EXPECT_REPLY(c, "get k\r\n", "END\r\n");
  }
  SECTION("an exptime of 4000000000 wraps to the past: stored and already expired") {
    EXPECT_REPLY(c, "set k 0 4000000000 1\r\nx\r\n", "STORED\r\n");
    EXPECT_REPLY(c, "get k\r\n", "END\r\n");
  }
  SECTION("touch with 4294967296 sets no expiry") {
    EXPECT_REPLY(c, "set k 0 10 1\r\nx\r\n", "STORED\r\n");
    EXPECT_REPLY(c, "touch k 4294967296\r\n", "TOUCHED\r\n");
    f.now += 100000;
    EXPECT_REPLY(c, "get k\r\n", "VALUE k 0 1\r\nx\r\nEND\r\n");
  }
  SECTION("a set length of 2^32 is an empty value") {
    EXPECT_REPLY(c, "set k 0 0 4294967296\r\n\r\n", "STORED\r\n");
    EXPECT_REPLY(c, "get k\r\n", "VALUE k 0 0\r\n\r\nEND\r\n");
  }
  SECTION("a set length of 2^32 - 1 is -1: refused, and the value line is not swallowed") {
    EXPECT_REPLY(c, "set k 0 0 4294967295\r\n", "CLIENT_ERROR bad command line format\r\n");
    EXPECT_REPLY(c, "get k\r\n", "END\r\n");
  }
  SECTION("flags of 2^32 + 1 are 1") {
    EXPECT_REPLY(c, "set k 4294967297 0 1\r\nx\r\n", "STORED\r\n");
    EXPECT_REPLY(c, "get k\r\n", "VALUE k 1 1\r\nx\r\nEND\r\n");
  }
}
