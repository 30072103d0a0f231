// The cache endpoint's meta protocol (mn, mg, ms, md, ma, me) over real sockets, transcript
// style. Every expected reply was first taken from Debian's memcached 1.6.18 given the same
// commands; CAS uniques and item sizes differ between servers, so replies carrying them are
// checked by shape (mask_numbers) and by how the CAS values relate to each other.
#include <connkit/cache/endpoint.hpp>

#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "support/cache_fixture.hpp"

using connkit::test::CacheFixture;
using connkit::test::Client;
using connkit::test::line_reply;
using connkit::test::mask_numbers;
using connkit::test::number_after;
using connkit::test::recv_line;

TEST_CASE("mn answers MN, after every reply queued before it", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "mn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "ms a 1\r\nx\r\nmg a v\r\nmn\r\n", "HD\r\nVA 1\r\nx\r\nMN\r\n");
}

TEST_CASE("mg returns the flags asked for, in the order asked", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms foo 3 T0 F5\r\nbar\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg foo v\r\n", "VA 3\r\nbar\r\n");
  EXPECT_REPLY(c, "mg foo Oxy s f\r\n", "HD Oxy s3 f5\r\n");
  EXPECT_REPLY(c, "mg foo s v f k\r\n", "VA 3 s3 f5 kfoo\r\nbar\r\n");
  const std::string line = line_reply(c, "mg foo v k c f s t h Oab12\r\n");
  CHECK(mask_numbers(line, {" c"}) == "VA 3 kfoo c# f5 s3 t-1 h1 Oab12\r\n");
  CHECK(c.recv_n(5) == "bar\r\n");
  CHECK(number_after(line, " c") != 0);
  EXPECT_REPLY(c, "mg foo c\r\n", "HD c" + std::to_string(number_after(line, " c")) + "\r\n");
}

TEST_CASE("mg t reports the TTL left and -1 for none", "[cache][meta][expiry]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms ttl 2 T100\r\nab\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg ttl t v\r\n", "VA 2 t100\r\nab\r\n");
  f.now += 40;
  EXPECT_REPLY(c, "mg ttl t\r\n", "HD t60\r\n");
  EXPECT_REPLY(c, "ms forever 2\r\nab\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg forever t\r\n", "HD t-1\r\n");
  f.now += 60;
  EXPECT_REPLY(c, "mg ttl t\r\n", "EN\r\n");
}

TEST_CASE("mg h says whether the item was fetched before and l how long since it was stored", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms hl 2\r\nab\r\n", "HD\r\n");
  f.now += 5;
  EXPECT_REPLY(c, "mg hl h l\r\n", "HD h0 l5\r\n");
  EXPECT_REPLY(c, "mg hl h\r\n", "HD h1\r\n");
  EXPECT_REPLY(c, "ms hl 2\r\ncd\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg hl u h\r\n", "HD h0\r\n");
  EXPECT_REPLY(c, "mg hl h\r\n", "HD h0\r\n");
}

TEST_CASE("mg misses answer EN with O and k, and q hides them until mn", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms foo 3\r\nbar\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg nope v\r\n", "EN\r\n");
  EXPECT_REPLY(c, "mg nope v k Oab12\r\n", "EN knope Oab12\r\n");
  EXPECT_REPLY(c, "mg nope v q\r\nmn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "mg nope k q\r\nmn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "mg foo v q\r\nmn\r\n", "VA 3\r\nbar\r\nMN\r\n");
  EXPECT_REPLY(c, "mg nope v q Oxx\r\nmg foo s q\r\nmn\r\n", "HD s3\r\nMN\r\n");
}

TEST_CASE("ms stores flags and TTL and reports c, k and O in the order asked", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms a 2 F7 T0\r\nhi\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg a f v t\r\n", "VA 2 f7 t-1\r\nhi\r\n");
  EXPECT_REPLY(c, "ms a 2 F4294967295 T30\r\nhi\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg a f t\r\n", "HD f4294967295 t30\r\n");
  const std::string stored = line_reply(c, "ms a 2 c k Oq1\r\nho\r\n");
  CHECK(mask_numbers(stored, {" c"}) == "HD c# ka Oq1\r\n");
  EXPECT_REPLY(c, "mg a c f\r\n", "HD c" + std::to_string(number_after(stored, " c")) + " f0\r\n");
}

TEST_CASE("ms C stores only over a matching CAS, and q hides only HD", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  const std::string first = line_reply(c, "ms k 2 c\r\nc1\r\n");
  REQUIRE(mask_numbers(first, {" c"}) == "HD c#\r\n");
  const std::string cas = std::to_string(number_after(first, " c"));
  EXPECT_REPLY(c, "ms k 2 C" + cas + "1 c k\r\nc2\r\n", "EX c0 kk\r\n");
  const std::string second = line_reply(c, "ms k 2 C" + cas + " c\r\nc3\r\n");
  CHECK(mask_numbers(second, {" c"}) == "HD c#\r\n");
  CHECK(number_after(second, " c") > number_after(first, " c"));
  EXPECT_REPLY(c, "ms k 2 C" + cas + "\r\nc4\r\n", "EX\r\n");
  EXPECT_REPLY(c, "mg k v\r\n", "VA 2\r\nc3\r\n");
  EXPECT_REPLY(c, "ms nokey 2 C1\r\nc2\r\n", "NF\r\n");
  EXPECT_REPLY(c, "ms nokey 2 C1 q\r\nc2\r\nmn\r\n", "NF\r\nMN\r\n");
  EXPECT_REPLY(c, "ms k 2 C" + cas + " q\r\nc5\r\nmn\r\n", "EX\r\nMN\r\n");
  EXPECT_REPLY(c, "ms k 2 q\r\nc6\r\nmn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "ms k 2 q ME\r\nc7\r\nmn\r\n", "NS\r\nMN\r\n");
  EXPECT_REPLY(c, "mg k v\r\n", "VA 2\r\nc6\r\n");
  const auto stats = f.endpoint->command_stats();
  CHECK(stats.cas_hits == 1);
  CHECK(stats.cas_badval == 3);
  CHECK(stats.cas_misses == 2);
}

TEST_CASE("ms M modes add, append, prepend, replace and set, and other modes are refused", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms e 2 ME\r\nee\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ms e 2 ME\r\nff\r\n", "NS\r\n");
  EXPECT_REPLY(c, "ms e 2 ME k Oz\r\nff\r\n", "NS ke Oz\r\n");
  EXPECT_REPLY(c, "ms e 2 MA\r\n++\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ms e 2 MP\r\n--\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg e v\r\n", "VA 6\r\n--ee++\r\n");
  EXPECT_REPLY(c, "ms nope 2 MA\r\n++\r\n", "NS\r\n");
  EXPECT_REPLY(c, "ms nope 2 MP\r\n++\r\n", "NS\r\n");
  EXPECT_REPLY(c, "ms nope 2 MR\r\n++\r\n", "NS\r\n");
  EXPECT_REPLY(c, "mg nope v\r\n", "EN\r\n");
  EXPECT_REPLY(c, "ms e 2 MR\r\nrr\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ms e 2 MS\r\nss\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg e v\r\n", "VA 2\r\nss\r\n");
  EXPECT_REPLY(c, "ms e 2 MX\r\nxx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n");
  EXPECT_REPLY(c, "ms e 2 Mx\r\nxx\r\nmg e v\r\n", "CLIENT_ERROR invalid mode for ms M token\r\nVA 2\r\nss\r\n");
  EXPECT_REPLY(c, "ms e 2 MEE\r\nxx\r\n", "CLIENT_ERROR incorrect length for M token\r\n");
  EXPECT_REPLY(c, "ms ap 3 F5 T0\r\nmid\r\nms ap 3 MA F9\r\n>>>\r\nms ap 3 MP\r\n<<<\r\nmg ap v f\r\n",
               "HD\r\nHD\r\nHD\r\nVA 9 f5\r\n<<<mid>>>\r\n");
}

TEST_CASE("ms I with an older CAS stores a stale value that hands out one recache token", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms other 1\r\no\r\n", "HD\r\n");
  const std::string stored = line_reply(c, "ms k 2 c\r\nc1\r\n");
  REQUIRE(mask_numbers(stored, {" c"}) == "HD c#\r\n");
  const std::uint64_t cas = number_after(stored, " c");
  REQUIRE(cas > 1);
  EXPECT_REPLY(c, "ms k 2 C" + std::to_string(cas - 1) + " I\r\nol\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg k v\r\n", "VA 2 X W\r\nol\r\n");
  EXPECT_REPLY(c, "mg k v\r\n", "VA 2 Z X\r\nol\r\n");
  EXPECT_REPLY(c, "ms k 2 C999999 I\r\nnw\r\n", "EX\r\n");
  EXPECT_REPLY(c, "ms plain 2\r\nab\r\nms plain 2 I\r\ncd\r\nmg plain v\r\n", "HD\r\nHD\r\nVA 2\r\ncd\r\n");
}

TEST_CASE("ms answers a bad data chunk and keeps the old value", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms e 2\r\nok\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ms e 2\r\nabcd\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  EXPECT_REPLY(c, "mg e v\r\n", "VA 2\r\nok\r\n");
  EXPECT_REPLY(c, "ms e 2 q\r\nabcd\r\nmn\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n");
}

TEST_CASE("ms of an oversized value is swallowed, refused, and removes the old item", "[cache][meta]") {
  CacheFixture f(64u << 20, 1024);
  Client c = f.client();
  const std::string value(2000, 'v');
  EXPECT_REPLY(c, "ms big 3\r\nold\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ms big 2000\r\n" + value + "\r\n", "SERVER_ERROR object too large for cache\r\n");
  EXPECT_REPLY(c, "mg big v\r\n", "EN\r\n");
  EXPECT_REPLY(c, "ms big2 2000 q\r\n" + value + "\r\nmn\r\n", "SERVER_ERROR object too large for cache\r\nMN\r\n");
  EXPECT_REPLY(c, "ms big2 2000 k Oo\r\n" + value + "\r\n", "SERVER_ERROR object too large for cache\r\n");
  CHECK(f.endpoint->command_stats().store_too_large == 3);
}

TEST_CASE("ms flag values that do not parse are refused and the value is swallowed", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms e 2 F\r\nqq\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "ms e 2 Fx\r\nqq\r\n", "CLIENT_ERROR bad command line format\r\n");
  EXPECT_REPLY(c, "ms e 2 Tx\r\nqq\r\n", "CLIENT_ERROR bad token in command line format\r\n");
  EXPECT_REPLY(c, "ms e 2 C12x\r\nqq\r\n", "CLIENT_ERROR bad token in command line format\r\n");
  EXPECT_REPLY(c, "mg e v\r\n", "EN\r\n");
}

TEST_CASE("meta commands refuse duplicate and unknown flags", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms e 2\r\nee\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg e v v\r\n", "CLIENT_ERROR duplicate flag\r\n");
  EXPECT_REPLY(c, "mg e v Z\r\n", "CLIENT_ERROR invalid flag\r\n");
  EXPECT_REPLY(c, "mg e v 1\r\n", "CLIENT_ERROR invalid flag\r\n");
  EXPECT_REPLY(c, "ms e 2 C1 C2\r\nqq\r\n", "CLIENT_ERROR duplicate flag\r\n");
  EXPECT_REPLY(c, "ms e 2 Z\r\nqq\r\n", "CLIENT_ERROR invalid flag\r\n");
  EXPECT_REPLY(c, "md e v v\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "md e Z\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma e Z\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma e q q\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "mg e v\r\n", "VA 2\r\nee\r\n");
}

TEST_CASE("base64 keys with b work in ms, mg, md, ma and me, and k returns them encoded", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  // "bWVrZXk=" is "mekey"; "Y291bnQ=" is "count"; "AAH//g==" is the bytes 00 01 ff fe.
  EXPECT_REPLY(c, "ms bWVrZXk= 3 b\r\nb64\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg bWVrZXk= b v k\r\n", "VA 3 kbWVrZXk= b\r\nb64\r\n");
  EXPECT_REPLY(c, "get mekey\r\n", "VALUE mekey 0 3\r\nb64\r\nEND\r\n");
  CHECK(mask_numbers(line_reply(c, "ms bWVrZXk= 3 b k c\r\nB64\r\n"), {" c"}) == "HD kbWVrZXk= b c#\r\n");
  EXPECT_REPLY(c, "ma Y291bnQ= b N0 J5 v k\r\n", "VA 1 kY291bnQ= b\r\n5\r\n");
  EXPECT_REPLY(c, "ma Y291bnQ= b v k\r\n", "VA 1 kY291bnQ= b\r\n6\r\n");
  EXPECT_REPLY(c, "get count\r\n", "VALUE count 0 1\r\n6\r\nEND\r\n");
  EXPECT_REPLY(c, "md bWVrZXk= b k\r\n", "HD kbWVrZXk= b\r\n");
  EXPECT_REPLY(c, "mg bWVrZXk= b k v\r\n", "EN kbWVrZXk= b\r\n");
  EXPECT_REPLY(c, "mg bWVrZXk= b k v q\r\nmn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "ms AAH//g== 2 b\r\nbk\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg AAH//g== b v k\r\n", "VA 2 kAAH//g== b\r\nbk\r\n");
  CHECK(mask_numbers(line_reply(c, "me AAH//g== b\r\n"), {"cas=", "size="}) ==
        "ME AAH//g== exp=-1 la=0 cas=# fetch=yes cls=2 size=#\r\n");
  // me names a key as it was stored: a text set's key plainly, even asked for in base64.
  EXPECT_REPLY(c, "set n 0 0 1\r\nx\r\n", "STORED\r\n");
  CHECK(mask_numbers(line_reply(c, "me bg== b\r\n"), {"cas=", "size="}) ==
        "ME n exp=-1 la=0 cas=# fetch=no cls=2 size=#\r\n");
}

TEST_CASE("keys that are not base64 are refused under b", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "mg !!!! b v\r\n", "CLIENT_ERROR error decoding key\r\n");
  EXPECT_REPLY(c, "mg bWVrZXk b v\r\n", "CLIENT_ERROR error decoding key\r\n");
  EXPECT_REPLY(c, "ms !!!! 1 b\r\nx\r\n", "CLIENT_ERROR error decoding key\r\n");
  EXPECT_REPLY(c, "md !!!! b\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma !!!! b\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "mn\r\n", "MN\r\n");
}

TEST_CASE("md deletes, refuses a CAS mismatch with EX, and q hides only HD", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms d 2\r\ndd\r\n", "HD\r\n");
  const std::string seen = line_reply(c, "mg d c\r\n");
  REQUIRE(mask_numbers(seen, {" c"}) == "HD c#\r\n");
  const std::string cas = std::to_string(number_after(seen, " c"));
  EXPECT_REPLY(c, "md d C" + cas + "1\r\n", "EX\r\n");
  EXPECT_REPLY(c, "md d C" + cas + "1 k Oo\r\n", "EX kd Oo\r\n");
  EXPECT_REPLY(c, "md d C" + cas + "1 q\r\nmn\r\n", "EX\r\nMN\r\n");
  EXPECT_REPLY(c, "md d C" + cas + " k\r\n", "HD kd\r\n");
  EXPECT_REPLY(c, "md d\r\n", "NF\r\n");
  EXPECT_REPLY(c, "md d k Oo\r\n", "NF kd Oo\r\n");
  EXPECT_REPLY(c, "ms d 2\r\ndd\r\nmd d q\r\nmd d q\r\nmn\r\n", "HD\r\nNF\r\nMN\r\n");
  const auto stats = f.endpoint->command_stats();
  CHECK(stats.delete_hits == 2);
  CHECK(stats.delete_misses == 6);
}

TEST_CASE("md I invalidates: the next mg wins the token (X W), later ones see Z X", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  const std::string stored = line_reply(c, "ms d 2 T0 c\r\ndd\r\n");
  REQUIRE(mask_numbers(stored, {" c"}) == "HD c#\r\n");
  EXPECT_REPLY(c, "md d I\r\n", "HD\r\n");
  const std::string won = line_reply(c, "mg d v c t\r\n");
  CHECK(mask_numbers(won, {" c"}) == "VA 2 c# t-1 X W\r\n");
  CHECK(c.recv_n(4) == "dd\r\n");
  CHECK(number_after(won, " c") > number_after(stored, " c"));
  EXPECT_REPLY(c, "mg d v t\r\n", "VA 2 t-1 Z X\r\ndd\r\n");
  EXPECT_REPLY(c, "mg d s\r\n", "HD s2 Z X\r\n");
  EXPECT_REPLY(c, "ms d 2 T0\r\nee\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg d v\r\n", "VA 2\r\nee\r\n");
  // T with I sets a new TTL; invalidating again hands the token out again.
  EXPECT_REPLY(c, "ms s 2 T0\r\nss\r\n", "HD\r\n");
  EXPECT_REPLY(c, "md s I T30\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg s v t\r\n", "VA 2 t30 X W\r\nss\r\n");
  EXPECT_REPLY(c, "mg s v t\r\n", "VA 2 t30 Z X\r\nss\r\n");
  EXPECT_REPLY(c, "md s I q\r\nmn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "mg s k\r\n", "HD ks X W\r\n");
  EXPECT_REPLY(c, "md nope I\r\n", "NF\r\n");
}

TEST_CASE("mg N vivifies a miss once: W to the first client, Z to the rest", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "mg viv N30 v s t\r\n", "VA 0 s0 t30 W\r\n\r\n");
  EXPECT_REPLY(c, "mg viv N30 v s t\r\n", "VA 0 s0 t30 Z\r\n\r\n");
  EXPECT_REPLY(c, "mg viv v\r\n", "VA 0 Z\r\n\r\n");
  EXPECT_REPLY(c, "mg viv h\r\n", "HD h1 Z\r\n");
  EXPECT_REPLY(c, "ms viv 2\r\nok\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg viv v\r\n", "VA 2\r\nok\r\n");
  EXPECT_REPLY(c, "mg viv2 N30 q\r\nmn\r\n", "HD W\r\nMN\r\n");
  EXPECT_REPLY(c, "mg viv2 N30 q\r\nmn\r\n", "HD Z\r\nMN\r\n");
  EXPECT_REPLY(c, "mg viv3 N0 s t\r\n", "HD s0 t-1 W\r\n");
  f.now += 30;
  EXPECT_REPLY(c, "mg viv2 v\r\n", "EN\r\n");
}

TEST_CASE("mg R hands out a recache token once the TTL left falls below it", "[cache][meta][expiry]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms rc 2 T100\r\nrc\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg rc R30 v\r\n", "VA 2\r\nrc\r\n");
  f.now += 70;
  EXPECT_REPLY(c, "mg rc R30 v t\r\n", "VA 2 t30\r\nrc\r\n");
  f.now += 1;
  EXPECT_REPLY(c, "mg rc R30 v t\r\n", "VA 2 t29 W\r\nrc\r\n");
  EXPECT_REPLY(c, "mg rc R30 v\r\n", "VA 2 Z\r\nrc\r\n");
  EXPECT_REPLY(c, "ms rc 2 T100\r\nrc\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg rc R200 v\r\n", "VA 2 W\r\nrc\r\n");
  EXPECT_REPLY(c, "ms rc 2 T0\r\nrc\r\n", "HD\r\n");
  EXPECT_REPLY(c, "mg rc R30 v\r\n", "VA 2\r\nrc\r\n");
}

TEST_CASE("ma increments and decrements by D, vivifies with N and J, and reports v, c and t", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ma n\r\n", "NF\r\n");
  EXPECT_REPLY(c, "ma n q\r\nmn\r\n", "NF\r\nMN\r\n");
  EXPECT_REPLY(c, "ma n k Oo\r\n", "NF kn Oo\r\n");
  EXPECT_REPLY(c, "ma n N0 J10 v\r\n", "VA 2\r\n10\r\n");
  EXPECT_REPLY(c, "ma n v\r\n", "VA 2\r\n11\r\n");
  EXPECT_REPLY(c, "ma n\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ma n q\r\nmn\r\n", "MN\r\n");
  EXPECT_REPLY(c, "mg n v\r\n", "VA 2\r\n13\r\n");
  EXPECT_REPLY(c, "ma n D5 v\r\n", "VA 2\r\n18\r\n");
  EXPECT_REPLY(c, "ma n MI D5 v\r\n", "VA 2\r\n23\r\n");
  EXPECT_REPLY(c, "ma n MD D3 v\r\n", "VA 2\r\n20\r\n");
  EXPECT_REPLY(c, "ma n M- D3 v\r\n", "VA 2\r\n17\r\n");
  EXPECT_REPLY(c, "ma n M+ D3 v\r\n", "VA 2\r\n20\r\n");
  EXPECT_REPLY(c, "ma n MD D100 v\r\n", "VA 1\r\n0\r\n");
  EXPECT_REPLY(c, "ma n v t\r\n", "VA 1 t-1\r\n1\r\n");
  EXPECT_REPLY(c, "ma n T100 v t\r\n", "VA 1 t100\r\n2\r\n");
  EXPECT_REPLY(c, "ma m N0 v t\r\n", "VA 1 t-1\r\n0\r\n");
  EXPECT_REPLY(c, "ma m2 N100 J5 v t\r\n", "VA 1 t100\r\n5\r\n");
  // A shorter number is written in place, padded with spaces, as memcached does.
  EXPECT_REPLY(c, "ms p 2\r\n10\r\nma p MD\r\nmg p v\r\n", "HD\r\nHD\r\nVA 2\r\n9 \r\n");
}

TEST_CASE("ma C counts only over a matching CAS and answers EX otherwise", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ma n N0 J1\r\n", "HD\r\n");
  const std::string seen = line_reply(c, "ma n v c\r\n");
  CHECK(mask_numbers(seen, {" c"}) == "VA 1 c#\r\n");
  CHECK(c.recv_n(3) == "2\r\n");
  const std::string cas = std::to_string(number_after(seen, " c"));
  EXPECT_REPLY(c, "ma n C" + cas + "1 v\r\n", "EX\r\n");
  EXPECT_REPLY(c, "ma n C" + cas + "1 q\r\nmn\r\n", "EX\r\nMN\r\n");
  EXPECT_REPLY(c, "ma n C" + cas + "1 k Oo\r\n", "EX kn Oo\r\n");
  EXPECT_REPLY(c, "ma n C" + cas + " v\r\n", "VA 1\r\n3\r\n");
  EXPECT_REPLY(c, "ma n C" + cas + " v\r\n", "EX\r\n");
}

TEST_CASE("ma refuses non-numeric values, bad numbers and bad modes", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms t 3\r\nabc\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ma t v\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_REPLY(c, "ma t q\r\nmn\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n");
  EXPECT_REPLY(c, "ma n N0 J1\r\n", "HD\r\n");
  EXPECT_REPLY(c, "ma n Dx v\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma n D-1 v\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma n Jx N0 v\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma n Nx v\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma n Mx v\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n");
  EXPECT_REPLY(c, "ma n MII v\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_REPLY(c, "ma\r\n", "ERROR\r\n");
  EXPECT_REPLY(c, "mg n v\r\n", "VA 1\r\n1\r\n");
}

TEST_CASE("me shows an item's metadata on a hit and EN on a miss", "[cache][meta]") {
  CacheFixture f;
  Client c = f.client();
  EXPECT_REPLY(c, "ms n 2 T50\r\n10\r\n", "HD\r\n");
  f.now += 5;
  CHECK(mask_numbers(line_reply(c, "me n\r\n"), {"cas=", "size="}) ==
        "ME n exp=-45 la=5 cas=# fetch=no cls=2 size=#\r\n");
  EXPECT_REPLY(c, "ms f 2\r\nab\r\nmg f v\r\n", "HD\r\nVA 2\r\nab\r\n");
  f.now += 3;
  CHECK(mask_numbers(line_reply(c, "me f\r\n"), {"cas=", "size="}) ==
        "ME f exp=-1 la=3 cas=# fetch=yes cls=2 size=#\r\n");
  EXPECT_REPLY(c, "me nope\r\n", "EN\r\n");
  EXPECT_REPLY(c, "me\r\n", "CLIENT_ERROR bad command line format\r\n");
}
