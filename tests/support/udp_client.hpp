#pragma once

// A memcached UDP client for tests: sends a request datagram with the 8-byte frame header
// (request id, sequence 0, count, reserved 0) and collects a reply's datagrams until all of
// its count arrived, reassembling the payload by sequence number (datagrams may come in any
// order).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace connkit::test {

/// One reply datagram's frame header.
struct UdpHeader {
  std::uint16_t request_id = 0, sequence = 0, count = 0, reserved = 0;
};

/// A reassembled reply: each datagram's header and size, in arrival order, and the payload
/// in sequence order. `complete` is false if the deadline passed first.
struct UdpReply {
  std::vector<UdpHeader> headers;
  std::vector<std::size_t> sizes;  ///< datagram sizes, header included
  std::string payload;
  std::string source;              ///< "ip:port" the datagrams came from (the last one)
  bool complete = false;
};

class UdpClient {
 public:
  /// A socket bound to `local` (port chosen by the kernel) sending to `server`:`port`.
  UdpClient(std::uint16_t port, const char* server = "127.0.0.1", const char* local = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in me{};
    me.sin_family = AF_INET;
    ::inet_pton(AF_INET, local, &me.sin_addr);
    to_.sin_family = AF_INET;
    to_.sin_port = htons(port);
    ::inet_pton(AF_INET, server, &to_.sin_addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) {
      throw std::runtime_error("udp client socket");
    }
  }
  ~UdpClient() { ::close(fd_); }
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;

  /// Sends `payload` after a frame header saying `count` datagrams (memcached wants 1).
  void send(std::uint16_t request_id, std::string_view payload, std::uint16_t count = 1, std::uint16_t reserved = 0) {
    std::string d = header(request_id, 0, count, reserved);
    d.append(payload);
    send_raw(d);
  }
  /// Sends `bytes` as one datagram, as they are.
  void send_raw(std::string_view bytes) {
    (void)::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to_), sizeof to_);
  }

  /// Collects the next reply: datagrams until as many arrived as the first one's count says.
  UdpReply receive(std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    UdpReply r;
    std::vector<std::pair<std::uint16_t, std::string>> parts;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (r.headers.empty() || r.headers.size() < r.headers.front().count) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return r;
      char buf[65536];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 8) continue;
      const auto u16 = [&](int at) {
        return static_cast<std::uint16_t>(static_cast<unsigned char>(buf[at]) << 8 | static_cast<unsigned char>(buf[at + 1]));
      };
      r.headers.push_back({u16(0), u16(2), u16(4), u16(6)});
      r.sizes.push_back(static_cast<std::size_t>(n));
      parts.emplace_back(u16(2), std::string(buf + 8, static_cast<std::size_t>(n) - 8));
      char ip[INET_ADDRSTRLEN] = "";
      ::inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
      r.source = std::string(ip) + ":" + std::to_string(ntohs(from.sin_port));
    }
    std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& part : parts) r.payload += part.second;
    r.complete = true;
    return r;
  }

  /// Sends a one-datagram request and returns its reassembled reply.
  UdpReply request(std::uint16_t request_id, std::string_view payload) {
    send(request_id, payload);
    return receive();
  }

  /// A frame header: four 16-bit fields, network byte order.
  static std::string header(std::uint16_t id, std::uint16_t sequence, std::uint16_t count, std::uint16_t reserved) {
    std::string h;
    for (const std::uint16_t v : {id, sequence, count, reserved}) {
      h += static_cast<char>(v >> 8);
      h += static_cast<char>(v & 0xff);
    }
    return h;
  }

 private:
  int fd_ = -1;
  sockaddr_in to_{};
};

}  // namespace connkit::test
