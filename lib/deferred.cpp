#include "deferred.hpp"

#include <cerrno>

#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/system/system_error.hpp>

#include <connkit/deferred_reply.hpp>

namespace connkit {

using detail::DeferredRecord;

std::string* DeferredReply::claim() noexcept {
  if (record_ == nullptr) return nullptr;
  std::uint64_t expected = DeferredRecord::word(generation_, DeferredRecord::pending);
  if (!record_->state.compare_exchange_strong(expected, DeferredRecord::word(generation_, DeferredRecord::claimed),
                                              std::memory_order_acquire, std::memory_order_relaxed)) {
    return nullptr;  // completed already, cancelled, or the record serves another request
  }
  record_->bytes.clear();
  record_->by_ref = false;
  return &record_->bytes;
}

void DeferredReply::submit() noexcept { record_->queue->submit(*record_); }

bool DeferredReply::complete(std::string_view bytes) {
  return complete_with([bytes](std::string& out) { out.assign(bytes); });
}

bool DeferredReply::complete_ref(std::span<const char> bytes, BufferOwner owner) {
  if (claim() == nullptr) {
    if (owner.release != nullptr) owner.release(owner.context);
    return false;
  }
  record_->ref = bytes;
  record_->ref_owner = owner;
  record_->by_ref = true;
  submit();
  return true;
}

bool DeferredReply::pending() const noexcept {
  return record_ != nullptr &&
         record_->state.load(std::memory_order_acquire) == DeferredRecord::word(generation_, DeferredRecord::pending);
}

namespace detail {
namespace {

// Records in the first block; each later block doubles the pool.
constexpr std::size_t first_block = 16;
// A record's copy buffer above this is given back when the record is freed.
constexpr std::size_t kept_bytes = 64 * 1024;

}  // namespace

DeferredQueue::DeferredQueue(boost::asio::io_context& io, void (*deliver)(void*, DeferredRecord&) noexcept,
                             void* context)
    : executor_(io.get_executor()), deliver_(deliver), context_(context) {
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) throw boost::system::system_error(errno, boost::system::system_category(), "eventfd");
}

DeferredQueue::~DeferredQueue() { ::close(event_fd_); }

void DeferredQueue::grow() {
  const std::size_t n = capacity_ == 0 ? first_block : capacity_;
  blocks_.reserve(blocks_.size() + 1);
  auto block = std::make_unique<DeferredRecord[]>(n);
  for (std::size_t i = 0; i < n; ++i) {
    block[i].queue = this;
    block[i].next = free_;
    free_ = &block[i];
  }
  blocks_.push_back(std::move(block));
  capacity_ += n;
}

DeferredRecord& DeferredQueue::acquire(ConnectionEngine& conn) {
  if (free_ == nullptr) grow();
  DeferredRecord& r = *free_;
  free_ = r.next;
  r.next = r.prev = nullptr;
  r.conn = &conn;
  r.orphan = false;
  // Release: a thread that claims the record sees it reset.
  r.state.store(DeferredRecord::word(r.generation(), DeferredRecord::pending), std::memory_order_release);
  return r;
}

void DeferredQueue::release(DeferredRecord& r) noexcept {
  r.state.store(DeferredRecord::word(r.generation() + 1, DeferredRecord::free), std::memory_order_relaxed);
  if (r.bytes.capacity() > kept_bytes) std::string().swap(r.bytes);
  r.conn = nullptr;
  r.orphan = false;
  r.ref = {};
  r.ref_owner = {};
  r.prev = nullptr;
  r.next = free_;
  free_ = &r;
}

bool DeferredQueue::cancel(DeferredRecord& r) noexcept {
  const std::uint64_t generation = r.generation();
  std::uint64_t expected = DeferredRecord::word(generation, DeferredRecord::pending);
  if (r.state.compare_exchange_strong(expected, DeferredRecord::word(generation + 1, DeferredRecord::free),
                                      std::memory_order_relaxed)) {
    r.conn = nullptr;
    r.prev = nullptr;
    r.next = free_;
    free_ = &r;
    return true;
  }
  r.orphan = true;  // a thread is completing it: freed when it arrives
  return false;
}

void DeferredQueue::submit(DeferredRecord& r) noexcept {
  if (executor_.running_in_this_thread()) {
    deliver_(context_, r);
    return;
  }
  DeferredRecord* head = done_.load(std::memory_order_relaxed);
  do {
    r.next_done = head;
  } while (!done_.compare_exchange_weak(head, &r, std::memory_order_release, std::memory_order_relaxed));
  if (head == nullptr) {  // the stack was empty: the worker may be asleep
    const std::uint64_t one = 1;
    (void)!::write(event_fd_, &one, sizeof one);
  }
}

void DeferredQueue::drain() noexcept {
  std::uint64_t count;
  (void)!::read(event_fd_, &count, sizeof count);
  DeferredRecord* stack = done_.exchange(nullptr, std::memory_order_acquire);
  // The stack is newest first: reverse it so completions are delivered in order.
  DeferredRecord* oldest = nullptr;
  while (stack != nullptr) {
    DeferredRecord* next = stack->next_done;
    stack->next_done = oldest;
    oldest = stack;
    stack = next;
  }
  while (oldest != nullptr) {
    DeferredRecord* next = oldest->next_done;
    deliver_(context_, *oldest);
    oldest = next;
  }
}

}  // namespace detail
}  // namespace connkit
