#include <connkit/reply_list.hpp>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace connkit {

void ReplyList::push_segment(const Segment& s) {
  // Sent segments stay in front until the list empties; a list that never empties (a
  // hold always outstanding) drops them instead of growing.
  if (first_ != 0 && segments_.size() == segments_.capacity()) drop_sent_segments();
  segments_.push_back(s);
}

void ReplyList::drop_sent_segments() noexcept {
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(first_));
  base_ += first_;
  if (holds_ != 0) first_hold_ -= first_;
  first_ = 0;
}

void ReplyList::push_copied(std::size_t offset, std::size_t size) {
  if (size == 0) return;
  add_bytes(size);
  // Merge with the previous segment when it ends where this one starts: fewer iovecs.
  if (segments_.size() > first_) {
    Segment& last = segments_.back();
    if (last.data == nullptr && !last.held && last.offset + last.size == offset) {
      last.size += size;
      return;
    }
  }
  push_segment(Segment{nullptr, offset, size, {}});
}

void ReplyList::append_copy(std::string_view bytes) {
  if (bytes.empty()) return;
  std::span<char> room = prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::span<char> ReplyList::prepare(std::size_t n) {
  if (buffer_.size() - buffer_used_ < n) {
    compact_buffer();
    if (buffer_.size() - buffer_used_ < n) {
      // Segments hold offsets, not pointers, so the buffer may move when it grows.
      buffer_.resize(std::max(buffer_used_ + n, std::max<std::size_t>(2 * buffer_.size(), 256)));
    }
  }
  return {buffer_.data() + buffer_used_, buffer_.size() - buffer_used_};
}

void ReplyList::compact_buffer() noexcept {
  // Only a list with a hold outstanding keeps sent bytes at the front of the buffer (else
  // it resets once everything is sent): move the live bytes down instead of growing.
  if (first_ != 0) drop_sent_segments();
  std::size_t from = buffer_used_;
  for (const Segment& s : segments_) {
    if (s.data == nullptr && !s.held) {
      from = s.offset;
      break;
    }
  }
  if (from == 0) return;
  std::memmove(buffer_.data(), buffer_.data() + from, buffer_used_ - from);
  buffer_used_ -= from;
  for (Segment& s : segments_) {
    if (s.data == nullptr && !s.held) s.offset -= from;
  }
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
  push_segment(Segment{bytes.data(), 0, bytes.size(), owner});
  add_bytes(bytes.size());
}

std::uint64_t ReplyList::hold() {
  push_segment(Segment{nullptr, 0, 0, {}, true});
  if (holds_++ == 0) first_hold_ = segments_.size() - 1;
  return base_ + segments_.size() - 1;
}

void ReplyList::fill(std::uint64_t ticket, std::span<const char> bytes, BufferOwner owner) noexcept {
  const auto i = static_cast<std::size_t>(ticket - base_);
  assert(i < segments_.size() && segments_[i].held);
  if (bytes.empty() && owner.release != nullptr) {
    owner.release(owner.context);
    owner = {};
  }
  segments_[i] = Segment{bytes.data(), 0, bytes.size(), owner};
  --holds_;
  if (i != first_hold_) {
    behind_ += bytes.size();
    return;
  }
  // The first hold: it and everything up to the next hold become ready.
  pending_ += bytes.size();
  std::size_t j = i + 1;
  for (; j < segments_.size() && !segments_[j].held; ++j) {
    pending_ += segments_[j].size;
    behind_ -= segments_[j].size;
  }
  first_hold_ = j;
  skip_empty();
}

std::size_t ReplyList::gather(std::span<iovec> out) const noexcept {
  std::size_t n = 0;
  const std::size_t end = ready_end();
  for (std::size_t i = first_; i < end && n < out.size(); ++i) {
    const Segment& s = segments_[i];
    const std::size_t skip = (i == first_) ? head_sent_ : 0;
    if (s.size == skip) continue;  // a hold filled with nothing
    const char* base = s.data != nullptr ? s.data : buffer_.data() + s.offset;
    out[n].iov_base = const_cast<char*>(base + skip);
    out[n].iov_len = s.size - skip;
    ++n;
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
  skip_empty();
}

void ReplyList::skip_empty() noexcept {
  while (first_ < ready_end() && segments_[first_].size == 0 && head_sent_ == 0) ++first_;
  if (first_ == segments_.size()) {
    base_ += segments_.size();
    segments_.clear();  // keeps capacity: the next request does not allocate
    first_ = 0;
    buffer_used_ = 0;
  }
}

void ReplyList::clear() noexcept {
  for (std::size_t i = first_; i < segments_.size(); ++i) {
    if (segments_[i].owner.release != nullptr) segments_[i].owner.release(segments_[i].owner.context);
  }
  base_ += segments_.size();
  segments_.clear();
  first_ = 0;
  head_sent_ = 0;
  pending_ = 0;
  behind_ = 0;
  holds_ = 0;
  buffer_used_ = 0;
}

void ReplyList::shrink(std::size_t max_buffer_bytes, std::size_t max_segments) noexcept {
  if (!idle()) return;
  if (buffer_.capacity() > max_buffer_bytes) std::vector<char>().swap(buffer_);
  if (segments_.capacity() > max_segments) std::vector<Segment>().swap(segments_);
}

}  // namespace connkit
