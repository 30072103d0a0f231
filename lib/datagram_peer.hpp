#pragma once

#include <sys/socket.h>

namespace connkit::detail {

/// The sender of the datagram a UDP connection is handling; replies go back to it.
struct DatagramPeer {
  sockaddr_storage address{};
  socklen_t length = 0;
};

}  // namespace connkit::detail
