#pragma once

#include <functional>

namespace connkit {
class Server;
}

/// Hooks for connkit's own tests. Not part of the API an application uses.
namespace connkit::testing {

/// Failures to inject on the slow path (connection set-up); both default to off. The hooks
/// run on worker threads.
struct FaultInjection {
  std::function<bool()> fail_connection_alloc;  ///< true: creating a Connection struct fails as if out of memory
  std::function<bool()> fail_register;          ///< true: registering an accepted socket fails
};

/// Attaches `faults` to `server`; its start() hands them to the workers. Call before
/// start() (later calls are ignored); a second call before start() replaces the first.
void inject_faults(Server& server, FaultInjection faults);

}  // namespace connkit::testing
