#pragma once

#include <cassert>
#include <cstddef>
#include <cstring>
#include <span>

namespace connkit {

/// A connection's read buffer: a view of storage the library lends from a per-worker cache
/// while there is input to parse, and takes back when the input is drained.
///
/// ```
///  +------------+----------------+-----------------+
///  |  consumed  |    unparsed    |      free       |
///  +------------+----------------+-----------------+
///  0          begin_           end_          capacity_
/// ```
/// Protocol code sees only `unparsed()`; the library reads into `free_space()`.
class ReadBuffer {
 public:
  /// Bytes received and not yet consumed by the protocol.
  std::span<const char> unparsed() const noexcept { return {data_ + begin_, end_ - begin_}; }
  /// Room left after the unparsed bytes.
  std::span<char> free_space() noexcept { return {data_ + end_, capacity_ - end_}; }
  /// Number of unparsed bytes.
  std::size_t size() const noexcept { return end_ - begin_; }
  /// True when nothing is left to parse.
  bool empty() const noexcept { return begin_ == end_; }
  /// Bytes of storage attached (0 when the connection holds none).
  std::size_t capacity() const noexcept { return capacity_; }
  /// True when storage is attached.
  bool has_storage() const noexcept { return data_ != nullptr; }

  /// `n` bytes were written into free_space().
  void commit(std::size_t n) noexcept {
    assert(n <= capacity_ - end_);
    end_ += n;
  }
  /// The protocol is done with the first `n` unparsed bytes.
  void consume(std::size_t n) noexcept {
    assert(n <= size());
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  /// Moves the unparsed bytes to the front, so all free room is at the end.
  void compact() noexcept {
    if (begin_ != 0) {
      std::memmove(data_, data_ + begin_, size());
      end_ -= begin_;
      begin_ = 0;
    }
  }
  /// Attaches empty storage (the buffer must hold none).
  void attach(char* data, std::size_t capacity) noexcept {
    assert(data_ == nullptr);
    data_ = data;
    capacity_ = capacity;
    begin_ = end_ = 0;
  }
  /// Moves the unparsed bytes into `data` (at least size() bytes) and returns the old storage.
  char* replace(char* data, std::size_t capacity) noexcept {
    assert(capacity >= size());
    if (size() != 0) std::memcpy(data, data_ + begin_, size());
    char* old = data_;
    end_ = size();
    begin_ = 0;
    data_ = data;
    capacity_ = capacity;
    return old;
  }
  /// Detaches the storage, dropping anything unparsed, and returns it.
  char* detach() noexcept {
    char* old = data_;
    data_ = nullptr;
    capacity_ = begin_ = end_ = 0;
    return old;
  }

 private:
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace connkit
