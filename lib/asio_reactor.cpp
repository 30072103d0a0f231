#include "asio_reactor.hpp"

#include <boost/asio/detail/reactor.hpp>

namespace connkit::detail {

#if defined(BOOST_ASIO_HAS_EPOLL)
namespace {

using Reactor = boost::asio::detail::epoll_reactor;

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
