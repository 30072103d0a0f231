#include "buffer_cache.hpp"

#include <new>

namespace connkit::detail {

ReadBufferCache::ReadBufferCache(std::size_t buffer_size, Counters& counters)
    : size_(buffer_size), counters_(counters) {
  spare_.reserve(max_spare);
}

ReadBufferCache::~ReadBufferCache() {
  for (char* b : spare_) delete[] b;
}

char* ReadBufferCache::allocate(std::size_t size) noexcept {
  if (size == size_ && !spare_.empty()) {
    char* b = spare_.back();
    spare_.pop_back();
    counters_[&ConnectionStats::read_buf_bytes_free].sub(size_);
    counters_[&ConnectionStats::read_buf_count].add();
    return b;
  }
  char* b = new (std::nothrow) char[size];
  if (b == nullptr) {
    counters_[&ConnectionStats::read_buf_oom].add();
    return nullptr;
  }
  counters_[&ConnectionStats::read_buf_bytes].add(size);
  counters_[&ConnectionStats::read_buf_count].add();
  return b;
}

void ReadBufferCache::release(char* buffer, std::size_t size) noexcept {
  if (buffer == nullptr) return;
  counters_[&ConnectionStats::read_buf_count].sub();
  if (size == size_ && spare_.size() < max_spare) {
    spare_.push_back(buffer);  // capacity reserved up front: never allocates
    counters_[&ConnectionStats::read_buf_bytes_free].add(size_);
    return;
  }
  delete[] buffer;
  counters_[&ConnectionStats::read_buf_bytes].sub(size);
}

ReplyList* ReplyListCache::take() {
  if (spare_.empty()) {
    auto list = std::make_unique<ReplyList>();
    list->prepare(write_buffer_size_);
    return list.release();
  }
  ReplyList* list = spare_.back().release();
  spare_.pop_back();
  return list;
}

void ReplyListCache::give(ReplyList* list) noexcept {
  std::unique_ptr<ReplyList> owned(list);
  owned->clear();
  if (spare_.size() < max_spare) {
    owned->shrink(buffer_high_water, segment_high_water);
    spare_.push_back(std::move(owned));
  }
}

}  // namespace connkit::detail
