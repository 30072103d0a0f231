#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include <connkit/options.hpp>

#include "connection_engine.hpp"
#include "counters.hpp"

namespace connkit::detail {

class Worker;

/// Per-worker, per-listener free list of connection structs (memcached's freeconns /
/// conn_from_freelist / conn_add_to_freelist). Owns every struct it ever made; addresses
/// never move. Structs are made one at a time, only when the free list is empty; the free
/// list's capacity doubles then, so release() never allocates. A struct of a pinned
/// listener is made with its handler; a negotiating struct makes its handlers itself, when
/// first bytes ask for them (ConnectionEngine::negotiate). Single-threaded.
class ConnectionPool {
 public:
  ConnectionPool(Worker& worker, unsigned listener, const ListenerOptions& options, Counter& structs)
      : worker_(worker), listener_(listener), options_(options), structs_(structs) {}

  /// A free struct, or a new one. Throws (std::bad_alloc or the factory's exception) when
  /// a new struct cannot be made; the pool is unchanged then.
  ConnectionEngine& acquire() {
    if (!free_.empty()) {
      ConnectionEngine* c = free_.back();
      free_.pop_back();
      return *c;
    }
    if (free_.capacity() < all_.size() + 1) {
      free_.reserve(std::max<std::size_t>(16, 2 * free_.capacity()));  // doubling, as freetotal
    }
    std::unique_ptr<ProtocolHandler> pinned;
    if (!negotiates(options_)) {
      pinned = options_.handler ? options_.handler() : options_.binary_handler();
      if (!pinned) throw std::bad_alloc();
    }
    all_.reserve(all_.size() + 1);
    all_.push_back(std::make_unique<ConnectionEngine>(worker_, listener_, std::move(pinned)));
    structs_.add();
    return *all_.back();
  }

  /// Puts a closed connection back on the free list. Never allocates.
  void release(ConnectionEngine& c) noexcept { free_.push_back(&c); }

  /// Structs ever made (memcached's conn_structs).
  std::size_t structs() const noexcept { return all_.size(); }
  /// Structs on the free list.
  std::size_t idle() const noexcept { return free_.size(); }

 private:
  Worker& worker_;
  unsigned listener_;
  const ListenerOptions& options_;
  Counter& structs_;
  std::vector<std::unique_ptr<ConnectionEngine>> all_;
  std::vector<ConnectionEngine*> free_;
};

}  // namespace connkit::detail
