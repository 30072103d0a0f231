// Test that header file is self-contained.
#include "read_buffer.hpp"

#include <cstring>
#include <string>

#include <catch2/catch.hpp>

TEST_CASE("read buffer regions move as bytes are committed, consumed and compacted", "[read_buffer]") {
  char storage[16];
  connkit::ReadBuffer b;
  CHECK_FALSE(b.has_storage());
  b.attach(storage, sizeof storage);
  std::memcpy(b.free_space().data(), "get a\r\nget", 10);
  b.commit(10);
  CHECK(std::string(b.unparsed().data(), b.size()) == "get a\r\nget");
  b.consume(7);
  CHECK(std::string(b.unparsed().data(), b.size()) == "get");
  CHECK(b.free_space().size() == 6);
  b.compact();
  CHECK(b.free_space().size() == 13);
  CHECK(std::string(b.unparsed().data(), b.size()) == "get");
  b.consume(3);
  CHECK(b.empty());
  CHECK(b.free_space().size() == 16);
  CHECK(b.detach() == storage);
  CHECK_FALSE(b.has_storage());
}

TEST_CASE("replacing storage keeps the unparsed bytes", "[read_buffer]") {
  char small[8];
  char big[32];
  connkit::ReadBuffer b;
  b.attach(small, sizeof small);
  std::memcpy(b.free_space().data(), "xxABCDEF", 8);
  b.commit(8);
  b.consume(2);
  CHECK(b.replace(big, sizeof big) == small);
  CHECK(std::string(b.unparsed().data(), b.size()) == "ABCDEF");
  CHECK(b.free_space().size() == 26);
}
