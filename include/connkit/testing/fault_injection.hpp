#pragma once

#include <functional>

namespace connkit {
class Server;
}

/// Hooks for connkit's own tests. Not part of the API an application uses.
namespace connkit::testing {

/// Failures to inject on the slow path (set-up); all default to off. The hooks run on
/// worker threads.
struct FaultInjection {
  std::function<bool()> fail_connection_alloc;  ///< true: creating a Connection struct fails as if out of memory
  std::function<bool()> fail_register;          ///< true: registering an accepted socket fails
  /// The worker loop's start-up check fails, as if Asio's reactor did not wake the worker's
  /// epoll set: owned workers fall back to the watched mode (ServerOptions::own_loop).
  bool fail_loop_check = false;
};

/// Attaches `faults` to `server`; its start() hands them to the workers. Call before
/// start() (later calls are ignored); a second call before start() replaces the first.
void inject_faults(Server& server, FaultInjection faults);

}  // namespace connkit::testing
