// libFuzzer target: random byte streams, cut at random points, through one whole cache
// connection (the real state machine and the cache's handler, negotiation included) over
// HandlerHarness. Nothing may crash, trip a sanitizer, hang, or leave the connection
// unable to close.
//
// Input: byte 0 says how many fragment sizes follow (1 + byte 0 % 4); each following byte
// is one (0: the rest of the stream in one write). The stream is the remaining bytes, sent
// as pieces of those sizes in turn, the state machine running to idle after each piece, so
// one input replays the same cut every time (docs/fuzzing.md).
//
// Everything is made anew per input and the store's clock is fixed, so a crash reproduces
// from its input alone.
#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/testing.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t max_fragment_sizes = 4;

// Fails the run: libFuzzer saves the input as a crash artifact.
void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "connection_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t count = 1 + data[0] % max_fragment_sizes;
  if (size < 1 + count) return 0;
  std::vector<std::size_t> fragments(data + 1, data + 1 + count);
  std::string_view stream(reinterpret_cast<const char*>(data + 1 + count), size - 1 - count);

  connkit::cache::StoreOptions store_options;
  store_options.memory_limit = 4u << 20;  // small: evictions and out-of-memory replies are reachable
  store_options.shards = 1;               // one thread; 16 shards cost more to make than a run (ASan)
  store_options.clock = [] { return std::int64_t{1700000000}; };
  connkit::cache::Store store(store_options);
  connkit::cache::Endpoint endpoint(store);
  connkit::testing::HandlerHarness harness(endpoint.handler_factory());

  for (std::size_t i = 0; !stream.empty() && !harness.closed(); ++i) {
    const std::size_t fragment = fragments[i % fragments.size()];
    const std::size_t piece = fragment == 0 ? stream.size() : std::min(fragment, stream.size());
    harness.exchange(stream.substr(0, piece));
    stream.remove_prefix(piece);
  }
  // Still open: whatever state the stream left it in (a value half sent, a line without
  // its end), the client's EOF must close it. (A "mn" round trip would not do: it may be
  // read as the rest of a value.)
  if (!harness.closed()) {
    harness.shutdown_input();
    require(harness.closed(), "the connection stayed open after the client's EOF");
  }
  return 0;
}
