#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/io_context.hpp>

namespace connkit::detail {

/// The epoll descriptor of `io`'s reactor (created if it does not exist yet), or -1 where
/// Asio's reactor is not epoll. Becomes readable when the reactor has work: a timer fell
/// due, an Asio-watched descriptor is ready, or the reactor was interrupted.
///
/// Asio has no public accessor, so this reads the reactor's private member through an
/// explicit template instantiation (checked at compile time against the installed
/// Boost's epoll_reactor; lib/asio_reactor.cpp). Only the Poller's loop mode uses it.
int asio_reactor_descriptor(boost::asio::io_context& io);

}  // namespace connkit::detail
