#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include <sys/uio.h>

namespace connkit {

/// Keeps borrowed reply bytes alive until they are sent (memcached's `ilist`, Seastar's
/// deleter). The owner of the bytes takes a reference before appending; the reply list
/// calls `release(context)` exactly once, when the bytes are sent or the reply is dropped.
struct BufferOwner {
  void (*release)(void* context) noexcept = nullptr;  ///< called once; nullptr = static bytes
  void* context = nullptr;                            ///< passed to release
};

/// Gathered replies of one connection: a write buffer for small formatted replies plus a
/// list of segments, some in that buffer and some pointing at memory owned elsewhere.
/// The unsent part is gathered into iovecs for one `sendmsg` (up to IOV_MAX at a time);
/// partial writes resume at the right byte. Clearing keeps capacity, so a reused list
/// does not allocate in steady state.
class ReplyList {
 public:
  ReplyList() = default;
  ReplyList(const ReplyList&) = delete;
  ReplyList& operator=(const ReplyList&) = delete;
  ~ReplyList() { clear(); }

  /// Copies `bytes` into the write buffer (merging with a preceding copied segment).
  void append_copy(std::string_view bytes);
  /// Returns at least `n` writable bytes at the end of the write buffer; follow with commit().
  std::span<char> prepare(std::size_t n);
  /// Appends the first `n` bytes written into the span that prepare() returned.
  void commit(std::size_t n);
  /// Appends bytes owned elsewhere without copying; `owner.release` runs once they are sent.
  void append_ref(std::span<const char> bytes, BufferOwner owner = {});

  /// Bytes not yet sent.
  std::size_t pending_bytes() const noexcept { return pending_; }
  /// True when nothing is waiting to be sent.
  bool empty() const noexcept { return pending_ == 0; }
  /// Segments not yet fully sent.
  std::size_t segment_count() const noexcept { return segments_.size() - first_; }

  /// Fills `out` with iovecs for the unsent bytes, in order; returns how many it filled.
  std::size_t gather(std::span<iovec> out) const noexcept;
  /// `n` bytes were sent: advance past them, releasing owners of finished segments.
  void consume(std::size_t n) noexcept;
  /// Drops everything (releasing owners) and keeps capacity.
  void clear() noexcept;
  /// Gives back capacity above the given high-water marks (memcached's conn_shrink).
  void shrink(std::size_t max_buffer_bytes, std::size_t max_segments) noexcept;
  /// Capacity of the write buffer, in bytes.
  std::size_t buffer_capacity() const noexcept { return buffer_.capacity(); }

 private:
  struct Segment {
    const char* data;  // nullptr: bytes live in buffer_ at `offset`
    std::size_t offset;
    std::size_t size;
    BufferOwner owner;
  };
  void push_copied(std::size_t offset, std::size_t size);

  std::vector<char> buffer_;
  std::size_t buffer_used_ = 0;
  std::vector<Segment> segments_;
  std::size_t first_ = 0;      // first unsent segment
  std::size_t head_sent_ = 0;  // bytes of segments_[first_] already sent
  std::size_t pending_ = 0;
};

}  // namespace connkit
