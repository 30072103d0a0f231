#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <connkit/reply_list.hpp>

#include "counters.hpp"

namespace connkit::detail {

/// Per-worker source of read buffers (memcached 1.6's rbuf cache): buffers of the standard
/// size are cached for reuse; larger ones, grown for one big request, are freed on release
/// (memcached's conn_shrink). Busy connections borrow one; idle ones hold none.
/// Keeps memcached's read_buf_* gauges. Single-threaded.
class ReadBufferCache {
 public:
  /// Spare buffers kept at most; more are freed, bounding an idle worker's memory.
  static constexpr std::size_t max_spare = 64;

  ReadBufferCache(std::size_t buffer_size, Counters& counters);
  ~ReadBufferCache();
  ReadBufferCache(const ReadBufferCache&) = delete;
  ReadBufferCache& operator=(const ReadBufferCache&) = delete;

  /// A buffer of `size` bytes (a cached one when size == buffer_size()); nullptr if out of memory.
  char* allocate(std::size_t size) noexcept;
  /// Takes back a buffer that allocate(size) returned.
  void release(char* buffer, std::size_t size) noexcept;
  /// The standard size.
  std::size_t buffer_size() const noexcept { return size_; }

 private:
  std::size_t size_;
  Counters& counters_;
  std::vector<char*> spare_;
};

/// Per-worker cache of reply lists: lent to a connection while it has replies queued.
class ReplyListCache {
 public:
  static constexpr std::size_t max_spare = 64;                 ///< spare lists kept at most
  static constexpr std::size_t buffer_high_water = 64 * 1024;  ///< write-buffer bytes kept on return
  static constexpr std::size_t segment_high_water = 1024;      ///< segments kept on return (IOV_MAX)

  explicit ReplyListCache(std::size_t write_buffer_size) : write_buffer_size_(write_buffer_size) {
    spare_.reserve(max_spare);
  }
  /// A cleared list. May throw std::bad_alloc.
  ReplyList* take();
  /// Takes back a list (clearing it, and shrinking it past the high-water marks).
  void give(ReplyList* list) noexcept;

 private:
  std::size_t write_buffer_size_;
  std::vector<std::unique_ptr<ReplyList>> spare_;
};

}  // namespace connkit::detail
