#include "address_text.hpp"

#include <cstddef>
#include <cstdio>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

namespace connkit::detail {

std::string address_text(const sockaddr_storage& address, socklen_t length, bool scheme, bool datagram) {
  char host[INET6_ADDRSTRLEN] = "?";
  char text[INET6_ADDRSTRLEN + 32];
  if (address.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    std::snprintf(text, sizeof text, "%s%s:%u", scheme ? (datagram ? "udp:" : "tcp:") : "", host, static_cast<unsigned>(ntohs(a->sin_port)));
    return text;
  }
  if (address.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    std::snprintf(text, sizeof text, "%s[%s]:%u", scheme ? (datagram ? "udp6:" : "tcp6:") : "", host,
                  static_cast<unsigned>(ntohs(a->sin6_port)));
    return text;
  }
  if (address.ss_family == AF_UNIX) {
    const auto* a = reinterpret_cast<const sockaddr_un*>(&address);
    const std::size_t offset = offsetof(sockaddr_un, sun_path);
    const std::size_t path_length =
        length > offset ? ::strnlen(a->sun_path, static_cast<std::size_t>(length) - offset) : 0;
    return "unix:" + std::string(a->sun_path, path_length);
  }
  return "?";
}

std::string socket_address_text(int fd, bool peer, bool scheme) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int type = SOCK_STREAM;
  socklen_t type_length = sizeof type;
  if (scheme) (void)::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length);
  return rc == 0 ? address_text(ss, len, scheme, type == SOCK_DGRAM) : "?";
}

}  // namespace connkit::detail
