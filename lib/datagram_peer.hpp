#pragma once

#include <cstddef>

#include <netinet/in.h>
#include <sys/socket.h>

#include <connkit/datagram_framing.hpp>

namespace connkit::detail {

/// What a UDP listener's connection keeps about the datagram it is answering: its sender
/// (replies go back there), the local address it came to (replies leave from there), its
/// frame header (echoed in each reply datagram's), and how far the reply has gone.
struct DatagramPeer {
  /// Room for one IP_PKTINFO or IPV6_PKTINFO control message.
  static constexpr std::size_t control_capacity = CMSG_SPACE(sizeof(in6_pktinfo));

  sockaddr_storage address{};
  socklen_t length = 0;
  /// The listener's framing (ListenerOptions::framing), or nullptr: no header.
  const DatagramFraming* framing = nullptr;
  /// The request's frame header, framing->header_size() bytes.
  unsigned char header[max_datagram_header] = {};
  /// The source address for the reply as a control message for sendmsg (IP_PKTINFO or
  /// IPV6_PKTINFO), made from the request's destination when the socket reports it (a
  /// wildcard bind: ListenSocket::open asks for it). Empty: the kernel chooses.
  alignas(cmsghdr) unsigned char control[control_capacity] = {};
  std::size_t control_length = 0;
  /// The reply being sent: datagrams in it (fixed by its first send) and the next one's number.
  std::size_t total = 0;
  std::size_t sequence = 0;

  std::size_t header_size() const noexcept { return framing != nullptr ? framing->header_size() : 0; }
  /// Reply payload bytes per datagram.
  std::size_t payload_size() const noexcept {
    return framing != nullptr ? framing->max_datagram() - framing->header_size() : max_udp_payload;
  }
};

}  // namespace connkit::detail
