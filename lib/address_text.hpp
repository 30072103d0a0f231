#pragma once

#include <string>

#include <sys/socket.h>

namespace connkit::detail {

/// "127.0.0.1:5000", "[::1]:5000" or "unix:<path>"; with `scheme`, memcached's `stats conns`
/// form: "tcp:127.0.0.1:5000", "tcp6:[::1]:5000", "unix:<path>" ("udp:", "udp6:" for a
/// `datagram` socket).
std::string address_text(const sockaddr_storage& address, socklen_t length, bool scheme, bool datagram = false);

/// The peer (`peer` true) or local address of socket `fd` as address_text(); "?" on error.
std::string socket_address_text(int fd, bool peer, bool scheme);

}  // namespace connkit::detail
