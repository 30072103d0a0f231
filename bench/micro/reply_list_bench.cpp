// connkit::ReplyList as the text protocol uses it: small replies formatted in place (copied)
// and item values appended by reference (borrowed, with an owner to release), gathered into
// iovecs and consumed after full or partial writes.
#include <connkit/reply_list.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <sys/uio.h>

#include <benchmark/benchmark.h>

#include "cache/value_reply.hpp"
#include "keys.hpp"

namespace {

constexpr std::size_t value_size = 100;

/// Stands in for an Item's reference count: the reply list releases each borrowed value once.
struct Values {
  explicit Values(std::size_t count) : bytes(count * (value_size + 2), 'v') {}
  std::span<const char> value_with_crlf(std::size_t i) const { return {bytes.data() + i * (value_size + 2), value_size + 2}; }
  connkit::BufferOwner owner() {
    ++refs;
    return {[](void* self) noexcept { --static_cast<Values*>(self)->refs; }, this};
  }
  std::string bytes;
  std::int64_t refs = 0;
};

/// Queues a multi-get reply the way TextHandler::process_get does: per hit the header from
/// format_value_header(), then the value, copied after it up to copy_value_limit bytes and
/// referenced above that; "END\r\n" copied.
void queue_get_reply(connkit::ReplyList& out, const std::vector<std::string>& keys, std::size_t first,
                     std::size_t count, Values& values) {
  using connkit::cache::detail::copy_value_limit;
  for (std::size_t k = 0; k < count; ++k) {
    const std::string& key = keys[(first + k) % keys.size()];
    const std::span<const char> value = values.value_with_crlf(k % 64);
    const bool copy = value.size() <= copy_value_limit;
    std::span<char> room = out.prepare(connkit::cache::detail::value_header_room(key.size()) + (copy ? value.size() : 0));
    char* p = connkit::cache::detail::format_value_header(room.data(), key, 0, value_size, nullptr);
    if (copy) {
      std::memcpy(p, value.data(), value.size());
      p += value.size();
    }
    out.commit(static_cast<std::size_t>(p - room.data()));
    if (!copy) out.append_ref(value, values.owner());
  }
  out.append_copy("END\r\n");
}

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = connkit::bench::make_keys(1024);
  return k;
}

// One reply of `n` hits, gathered and sent in one write (the common case).
void BM_ReplyGetGatherSend(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  connkit::ReplyList out;
  Values values(64);
  std::array<iovec, IOV_MAX> iov{};
  std::size_t first = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    queue_get_reply(out, keys(), first, n, values);
    first += n;
    const std::size_t count = out.gather(iov);
    benchmark::DoNotOptimize(iov.data());
    benchmark::DoNotOptimize(count);
    const std::size_t pending = out.pending_bytes();
    bytes += pending;
    out.consume(pending);
  }
  if (values.refs != 0) state.SkipWithError("an owner was not released");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));  // values sent
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_ReplyGetGatherSend)->Arg(1)->Arg(10)->Arg(100);

// Pipelined "STORED\r\n" replies: copies that merge into one segment, so one iovec.
void BM_ReplyCopySmall(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  connkit::ReplyList out;
  std::array<iovec, 16> iov{};
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) out.append_copy("STORED\r\n");
    const std::size_t count = out.gather(iov);
    benchmark::DoNotOptimize(count);
    bytes += out.pending_bytes();
    out.consume(out.pending_bytes());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_ReplyCopySmall)->Arg(16);

// A 100-hit reply (about 13 KB in 201 segments) sent through a socket that takes `chunk`
// bytes per sendmsg: gather the unsent part, consume what "went out", repeat.
void BM_ReplyPartialWrites(benchmark::State& state) {
  const auto chunk = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t hits = 100;
  connkit::ReplyList out;
  Values values(64);
  std::array<iovec, IOV_MAX> iov{};
  std::size_t first = 0;
  std::size_t bytes = 0;
  std::int64_t writes = 0;
  for (auto _ : state) {
    queue_get_reply(out, keys(), first, hits, values);
    first += hits;
    bytes += out.pending_bytes();
    while (!out.empty()) {
      const std::size_t count = out.gather(iov);
      benchmark::DoNotOptimize(count);
      out.consume(std::min(chunk, out.pending_bytes()));
      ++writes;
    }
  }
  if (values.refs != 0) state.SkipWithError("an owner was not released");
  state.SetItemsProcessed(writes);  // partial writes resumed
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["writes_per_reply"] =
      static_cast<double>(writes) / static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
}
BENCHMARK(BM_ReplyPartialWrites)->Arg(1448)->Arg(4096);

}  // namespace
