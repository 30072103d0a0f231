#include "asio_reactor.hpp"

#include <type_traits>

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/version.hpp>

// The io_context's reactor is epoll_reactor where Asio has epoll and has not been told to
// use another backend. Asio 1.21+ can make io_uring the default (BOOST_ASIO_HAS_IO_URING_AS_DEFAULT):
// then use_service<epoll_reactor> would create a second, idle reactor whose descriptor never
// wakes, so the read is off there. The version bound is the range checked against Asio's
// sources (1.18.0, Boost 1.74, is the one built and tested here); a release in it that
// renamed the member fails to compile at the instantiation below, never silently.
#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    !defined(BOOST_ASIO_DISABLE_EPOLL) && BOOST_ASIO_VERSION >= 101800 && BOOST_ASIO_VERSION < 103100
#define CONNKIT_READ_ASIO_REACTOR 1
#endif

namespace connkit::detail {

#if defined(CONNKIT_READ_ASIO_REACTOR)
namespace {

using Reactor = boost::asio::detail::epoll_reactor;
static_assert(std::is_same_v<boost::asio::detail::reactor, Reactor>, "the io_context's reactor is not epoll_reactor");

// Explicit instantiation may name a private member ([temp.explicit]/14); the friend it
// defines hands the member pointer out.
int Reactor::*reactor_fd_member();

template <int Reactor::*Member>
struct ReactorFdMember {
  friend int Reactor::*reactor_fd_member() { return Member; }
};
template struct ReactorFdMember<&Reactor::epoll_fd_>;

}  // namespace

int asio_reactor_descriptor(boost::asio::io_context& io) {
  Reactor& reactor = boost::asio::use_service<Reactor>(static_cast<boost::asio::execution_context&>(io));
  return reactor.*reactor_fd_member();
}
#else
int asio_reactor_descriptor(boost::asio::io_context&) { return -1; }
#endif

}  // namespace connkit::detail
