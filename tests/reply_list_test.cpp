// Test that header file is self-contained.
#include <connkit/reply_list.hpp>

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using connkit::BufferOwner;
using connkit::ReplyList;

namespace {

std::string unsent(const ReplyList& list) {
  std::vector<iovec> iov(list.segment_count() + 1);
  const std::size_t n = list.gather(iov);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

void count_release(void* counter) noexcept { ++*static_cast<int*>(counter); }

}  // namespace

TEST_CASE("copied replies merge into one segment", "[reply_list]") {
  ReplyList list;
  list.append_copy("VALUE a 0 1\r\n");
  list.append_copy("x\r\n");
  list.append_copy("END\r\n");
  CHECK(list.segment_count() == 1);
  CHECK(unsent(list) == "VALUE a 0 1\r\nx\r\nEND\r\n");
}

TEST_CASE("a partial write resumes at the exact byte, at every offset", "[reply_list]") {
  static const std::string value = "0123456789";
  const std::string expected = "VALUE k 0 10\r\n" + value + "\r\nEND\r\n";
  const auto cut = GENERATE_COPY(range<std::size_t>(0, expected.size() + 1));
  CAPTURE(cut);
  int released = 0;
  ReplyList list;
  list.append_copy("VALUE k 0 10\r\n");
  list.append_ref(value, BufferOwner{&count_release, &released});
  list.append_copy("\r\nEND\r\n");
  REQUIRE(list.pending_bytes() == expected.size());
  list.consume(cut);
  CHECK(unsent(list) == expected.substr(cut));
  CHECK(list.pending_bytes() == expected.size() - cut);
  CHECK(released == (cut >= 14 + value.size() ? 1 : 0));
  list.consume(list.pending_bytes());
  CHECK(list.empty());
  CHECK(released == 1);
}

TEST_CASE("gather stops at the iovec limit and continues after consume", "[reply_list]") {
  static const std::string piece = "ab";
  ReplyList list;
  for (int i = 0; i < 3000; ++i) {
    list.append_ref(piece);
    list.append_copy(std::to_string(i));
  }
  std::string expected;
  for (int i = 0; i < 3000; ++i) expected += piece + std::to_string(i);
  std::string sent;
  std::vector<iovec> window(1024);
  while (!list.empty()) {
    const std::size_t n = list.gather(window);
    REQUIRE(n <= 1024);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sent.append(static_cast<const char*>(window[i].iov_base), window[i].iov_len);
      bytes += window[i].iov_len;
    }
    list.consume(bytes);
  }
  CHECK(sent == expected);
}

TEST_CASE("clearing releases every borrowed buffer once and keeps capacity", "[reply_list]") {
  int released = 0;
  ReplyList list;
  list.append_copy("header");
  list.append_ref(std::string_view("v1"), BufferOwner{&count_release, &released});
  list.append_ref(std::string_view("v2"), BufferOwner{&count_release, &released});
  list.consume(7);  // "header" and one byte of v1
  list.clear();
  CHECK(released == 2);
  CHECK(list.empty());
  CHECK(list.buffer_capacity() > 0);
}

TEST_CASE("prepare and commit format in place", "[reply_list]") {
  ReplyList list;
  auto room = list.prepare(32);
  REQUIRE(room.size() >= 32);
  const std::string text = "STAT pid 42\r\n";
  std::copy(text.begin(), text.end(), room.begin());
  list.commit(text.size());
  list.append_copy("END\r\n");
  CHECK(unsent(list) == "STAT pid 42\r\nEND\r\n");
  CHECK(list.segment_count() == 1);
}

TEST_CASE("bytes after a hold wait for it, holds fill in any order, writes cut at every byte", "[reply_list]") {
  // [A][hold 1][B][hold 2][C], filled 2 then 1 (or 1 then 2), sent in cuts of `step` bytes.
  const bool second_first = GENERATE(false, true);
  const std::size_t step = GENERATE(range<std::size_t>(1, 12));
  CAPTURE(second_first, step);
  static const std::string one = "one\r\n", two = "";  // hold 2 is filled with nothing
  int released = 0;
  ReplyList list;
  list.append_copy("A\r\n");
  const std::uint64_t h1 = list.hold();
  list.append_copy("B\r\n");
  const std::uint64_t h2 = list.hold();
  list.append_ref(std::span<const char>("C\r\n", 3), BufferOwner{count_release, &released});
  CHECK(list.holds() == 2);
  CHECK(unsent(list) == "A\r\n");
  std::string sent;
  auto send_ready = [&] {
    while (!list.empty()) {
      const std::string ready = unsent(list);
      const std::size_t n = std::min(step, ready.size());
      sent += ready.substr(0, n);
      list.consume(n);
    }
  };
  send_ready();
  if (second_first) {
    list.fill(h2, std::span<const char>(two.data(), two.size()));
    send_ready();
    CHECK(sent == "A\r\n");  // still waiting for hold 1
  }
  list.fill(h1, std::span<const char>(one.data(), one.size()), BufferOwner{count_release, &released});
  if (!second_first) {
    send_ready();
    CHECK(sent == "A\r\none\r\nB\r\n");
    CHECK_FALSE(list.idle());
    list.fill(h2, std::span<const char>(two.data(), two.size()));
  }
  send_ready();
  CHECK(sent == "A\r\none\r\nB\r\nC\r\n");
  CHECK(list.idle());
  CHECK(released == 2);
}

TEST_CASE("a list that always holds a reply does not grow without bound", "[reply_list]") {
  ReplyList list;
  std::uint64_t held = list.hold();
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t next = list.hold();  // a new hold before the old one fills
    list.append_copy("VALUE k 0 1\r\nx\r\nEND\r\n");
    list.fill(held, std::span<const char>("ok\r\n", 4));
    held = next;
    while (!list.empty()) list.consume(list.pending_bytes());
  }
  CHECK(list.holds() == 1);
  CHECK(list.buffer_capacity() <= 4096);
}
