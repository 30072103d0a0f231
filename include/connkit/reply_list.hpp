#pragma once

#include <cstddef>
#include <cstdint>
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
///
/// A hold is a place for bytes that come later (a deferred reply): what is appended after
/// it waits until it is filled, so replies leave in the order they were queued.
///
///     segments_: [sent..][ready ready ready][HOLD][behind behind][HOLD][behind]
///                 first_^                   first_hold_^
///     pending_bytes(): the ready bytes, sendable now; behind_: the bytes after the first hold
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
  /// Appends a hold: a place filled later with fill(). Returns its ticket.
  std::uint64_t hold();
  /// Fills hold `ticket` with bytes owned elsewhere (as append_ref; empty is allowed).
  void fill(std::uint64_t ticket, std::span<const char> bytes, BufferOwner owner = {}) noexcept;

  /// Bytes ready to send: queued before the first unfilled hold, not yet sent.
  std::size_t pending_bytes() const noexcept { return pending_; }
  /// True when nothing is ready to send (holds may still be waiting).
  bool empty() const noexcept { return pending_ == 0; }
  /// Unfilled holds.
  std::size_t holds() const noexcept { return holds_; }
  /// True when nothing at all is queued: no bytes, no holds.
  bool idle() const noexcept { return first_ == segments_.size(); }
  /// Ready segments not yet fully sent.
  std::size_t segment_count() const noexcept { return ready_end() - first_; }

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
    bool held = false;  // a hold not filled yet
  };
  void push_segment(const Segment& s);
  void push_copied(std::size_t offset, std::size_t size);
  void drop_sent_segments() noexcept;
  void compact_buffer() noexcept;
  void add_bytes(std::size_t size) noexcept { (holds_ == 0 ? pending_ : behind_) += size; }
  std::size_t ready_end() const noexcept { return holds_ == 0 ? segments_.size() : first_hold_; }
  void skip_empty() noexcept;

  std::vector<char> buffer_;
  std::size_t buffer_used_ = 0;
  std::vector<Segment> segments_;
  std::size_t first_ = 0;      // first unsent segment
  std::size_t head_sent_ = 0;  // bytes of segments_[first_] already sent
  std::size_t pending_ = 0;     // ready bytes
  std::size_t behind_ = 0;      // bytes after the first hold
  std::size_t holds_ = 0;       // unfilled holds
  std::size_t first_hold_ = 0;  // index of the first unfilled hold, if holds_ != 0
  std::uint64_t base_ = 0;      // segments dropped from the front so far: ticket = base_ + index
};

}  // namespace connkit
