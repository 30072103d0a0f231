#pragma once

// The worker's side of deferred replies (include/connkit/deferred_reply.hpp): pooled
// records, and the queue that brings completions from any thread to the worker.
//
// A record's one atomic word holds its generation and state:
//
//     free --defer()--> pending --complete() (any thread)--> claimed --> back to free
//                          \--the connection closes (cancel)--------------^
//
// Only the worker moves a record to free, adding 1 to the generation, so a handle
// (record, generation) made before is stale from then on: its compare-and-swap fails.
// A claimed record belongs to the completing thread until it is pushed on the worker's
// completion stack; then to the worker, which fills the connection's hold with its bytes
// (lending them until they are sent) or, if the connection closed meanwhile (`orphan`),
// frees it. Records are never freed while the worker lives, so a stale handle always
// points at valid memory.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <connkit/reply_list.hpp>

namespace connkit::detail {

class ConnectionEngine;
class DeferredQueue;

struct DeferredRecord {
  enum State : std::uint64_t { free = 0, pending = 1, claimed = 2 };
  static constexpr std::uint64_t word(std::uint64_t generation, State s) noexcept { return generation << 2 | s; }

  std::atomic<std::uint64_t> state{word(0, free)};
  // Written by the completing thread between claim and push:
  std::string bytes;                // complete() / complete_with(): the reply, copied
  std::span<const char> ref;        // complete_ref(): the reply, lent
  BufferOwner ref_owner;
  bool by_ref = false;
  DeferredRecord* next_done = nullptr;  // the completion stack
  // The worker's alone:
  DeferredQueue* queue = nullptr;       // the worker that made it
  ConnectionEngine* conn = nullptr;     // while pending or claimed
  std::uint64_t ticket = 0;             // the connection's hold
  bool orphan = false;                  // the connection closed while the record was claimed
  DeferredRecord* prev = nullptr;       // the connection's list of outstanding records,
  DeferredRecord* next = nullptr;       // or (next) the free list

  std::uint64_t generation() const noexcept { return state.load(std::memory_order_relaxed) >> 2; }
};

/// One per worker: the record pool (grows by doubling, never shrinks) and the completion
/// stack (lock-free, many producers; an eventfd wakes the worker when it turns non-empty).
class DeferredQueue {
 public:
  /// `deliver(context, record)` runs on the worker (the thread running `io`, or its own
  /// loop) for each completed record.
  DeferredQueue(boost::asio::io_context& io, void (*deliver)(void* context, DeferredRecord& r) noexcept,
                void* context);
  ~DeferredQueue();
  DeferredQueue(const DeferredQueue&) = delete;
  DeferredQueue& operator=(const DeferredQueue&) = delete;

  /// A free record, now pending for `conn`. Worker thread. May throw std::bad_alloc.
  DeferredRecord& acquire(ConnectionEngine& conn);
  /// Frees a record the worker owns (claimed and delivered, or orphaned). Worker thread.
  void release(DeferredRecord& r) noexcept;
  /// Cancels a record of a closing connection: frees it if still pending (true), else
  /// marks it orphaned for delivery to free. Worker thread.
  bool cancel(DeferredRecord& r) noexcept;

  /// A claimed record is complete: deliver it on the worker. Any thread: on the thread
  /// running the worker's io_context (an Asio handler on Connection::executor()) it is
  /// delivered at once, else through the completion stack and the eventfd.
  void submit(DeferredRecord& r) noexcept;
  /// The eventfd the worker's Poller watches.
  int notify_fd() const noexcept { return event_fd_; }
  /// The eventfd fired: deliver every completion pushed so far, oldest first. Worker thread.
  void drain() noexcept;

 private:
  void grow();

  boost::asio::io_context::executor_type executor_;
  void (*deliver_)(void* context, DeferredRecord& r) noexcept;
  void* context_;
  int event_fd_ = -1;
  std::atomic<DeferredRecord*> done_{nullptr};
  DeferredRecord* free_ = nullptr;
  std::vector<std::unique_ptr<DeferredRecord[]>> blocks_;
  std::size_t capacity_ = 0;
};

}  // namespace connkit::detail
