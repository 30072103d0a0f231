#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <connkit/reply_list.hpp>

namespace connkit {

namespace detail {
struct DeferredRecord;
}

/// A reply a protocol handler gives later, from any thread (memcached's io queue for
/// extstore and its proxy; muduo's runInLoop; a Seastar future).
///
/// Connection::defer() reserves the request's place in the connection's reply order and
/// returns this handle; the handler then returns Action::defer(n) and starts its backend
/// work. Replies queued after that point (for later requests) wait behind it. Completing
/// the handle, on any thread, moves the reply to the connection's worker, which sends it
/// and everything behind it that is ready.
///
/// The handle is 16 bytes, copyable, and thread-safe: only the first completion of a
/// handle counts. A handle whose connection closed (which cancels it), whose reply was
/// already given, or whose pooled record now serves another request is stale: completing
/// it does nothing and returns false (a generation number tells). Records are pooled per
/// worker, so deferring allocates nothing in steady state.
///
/// Complete every handle you take, or the connection's later replies wait forever
/// (ServerOptions::write_stall_timeout does not cover that: nothing is queued yet). A
/// handle must not be completed after its Server is destroyed.
class DeferredReply {
 public:
  /// An empty handle: completing it returns false.
  DeferredReply() noexcept = default;
  /// Made by Connection::defer(); applications never construct a live one.
  DeferredReply(detail::DeferredRecord* record, std::uint64_t generation) noexcept
      : record_(record), generation_(generation) {}

  /// Gives the reply: `bytes` are copied into the record's own buffer (kept for reuse).
  bool complete(std::string_view bytes);
  /// Gives the reply without copying: `owner.release` runs on the connection's worker once
  /// the bytes are sent or dropped, or at once (on this thread) if the handle is stale.
  bool complete_ref(std::span<const char> bytes, BufferOwner owner = {});
  /// Gives the reply composed by `write(std::string& out)`, which appends to the record's
  /// buffer (empty, capacity kept) on the calling thread. `write` is not called if the
  /// handle is stale. If it throws, what it wrote is sent and the exception propagates.
  template <class Write>
  bool complete_with(Write&& write) {
    std::string* out = claim();
    if (out == nullptr) return false;
    try {
      std::forward<Write>(write)(*out);
    } catch (...) {
      submit();
      throw;
    }
    submit();
    return true;
  }
  /// True while the reply is still expected (a snapshot: another thread may complete it,
  /// or the connection may close, right after).
  bool pending() const noexcept;

 private:
  std::string* claim() noexcept;
  void submit() noexcept;

  detail::DeferredRecord* record_ = nullptr;
  std::uint64_t generation_ = 0;
};

}  // namespace connkit
