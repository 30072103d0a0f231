#include <connkit/reply_list.hpp>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace connkit {

void ReplyList::push_copied(std::size_t offset, std::size_t size) {
  if (size == 0) return;
  pending_ += size;
  // Merge with the previous segment when it ends where this one starts: fewer iovecs.
  if (segments_.size() > first_) {
    Segment& last = segments_.back();
    if (last.data == nullptr && last.offset + last.size == offset) {
      last.size += size;
      return;
    }
  }
  segments_.push_back(Segment{nullptr, offset, size, {}});
}

void ReplyList::append_copy(std::string_view bytes) {
  if (bytes.empty()) return;
  std::span<char> room = prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::span<char> ReplyList::prepare(std::size_t n) {
  if (buffer_.size() - buffer_used_ < n) {
    // Segments hold offsets, not pointers, so the buffer may move when it grows.
    buffer_.resize(std::max(buffer_used_ + n, std::max<std::size_t>(2 * buffer_.size(), 256)));
  }
  return {buffer_.data() + buffer_used_, buffer_.size() - buffer_used_};
}

void ReplyList::commit(std::size_t n) {
  assert(buffer_used_ + n <= buffer_.size());
  push_copied(buffer_used_, n);
  buffer_used_ += n;
}

void ReplyList::append_ref(std::span<const char> bytes, BufferOwner owner) {
  if (bytes.empty()) {
    if (owner.release != nullptr) owner.release(owner.context);
    return;
  }
  segments_.push_back(Segment{bytes.data(), 0, bytes.size(), owner});
  pending_ += bytes.size();
}

std::size_t ReplyList::gather(std::span<iovec> out) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = first_; i < segments_.size() && n < out.size(); ++i, ++n) {
    const Segment& s = segments_[i];
    const char* base = s.data != nullptr ? s.data : buffer_.data() + s.offset;
    const std::size_t skip = (i == first_) ? head_sent_ : 0;
    out[n].iov_base = const_cast<char*>(base + skip);
    out[n].iov_len = s.size - skip;
  }
  return n;
}

void ReplyList::consume(std::size_t n) noexcept {
  assert(n <= pending_);
  pending_ -= n;
  while (n != 0) {
    Segment& head = segments_[first_];
    const std::size_t left = head.size - head_sent_;
    if (n < left) {
      head_sent_ += n;
      return;
    }
    n -= left;
    if (head.owner.release != nullptr) head.owner.release(head.owner.context);
    head.owner = {};
    head_sent_ = 0;
    ++first_;
  }
  if (pending_ == 0) {
    segments_.clear();  // keeps capacity: the next request does not allocate
    first_ = 0;
    buffer_used_ = 0;
  }
}

void ReplyList::clear() noexcept {
  for (std::size_t i = first_; i < segments_.size(); ++i) {
    if (segments_[i].owner.release != nullptr) segments_[i].owner.release(segments_[i].owner.context);
  }
  segments_.clear();
  first_ = 0;
  head_sent_ = 0;
  pending_ = 0;
  buffer_used_ = 0;
}

void ReplyList::shrink(std::size_t max_buffer_bytes, std::size_t max_segments) noexcept {
  if (!empty()) return;
  if (buffer_.capacity() > max_buffer_bytes) std::vector<char>().swap(buffer_);
  if (segments_.capacity() > max_segments) std::vector<Segment>().swap(segments_);
}

}  // namespace connkit
