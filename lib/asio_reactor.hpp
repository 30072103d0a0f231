#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/io_context.hpp>

namespace connkit::detail {

/// The epoll descriptor of `io`'s reactor (created if it does not exist yet), or -1 where
/// connkit cannot know it. Becomes readable when the reactor has work: a timer fell due, an
/// Asio-watched descriptor is ready, or the reactor was interrupted.
///
/// Asio has no public accessor, so this reads the reactor's private member through an
/// explicit template instantiation, guarded at compile time (lib/asio_reactor.cpp): only
/// where the io_context's reactor is epoll_reactor (not io_uring, not disabled) and Asio's
/// version is one whose epoll_reactor has that member; elsewhere -1. Only the Poller's loop
/// mode uses it, after a run-time check that a due timer wakes it (Poller's constructor).
int asio_reactor_descriptor(boost::asio::io_context& io);

}  // namespace connkit::detail
