// An application of an installed connkit: the cache endpoint served on connkit's own
// threads, one client round trip over TCP, then a graceful stop. Built three ways by
// run.cmake (find_package against a static and a shared install, and pkg-config).
#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
#include <connkit/connkit.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

int main() {
  // version.hpp is generated from the package's project(VERSION).
  if (std::string_view(connkit::version_string) != CONSUMER_EXPECTED_VERSION) {
    std::printf("version.hpp says %s, the package %s\n", connkit::version_string, CONSUMER_EXPECTED_VERSION);
    return 1;
  }
  connkit::cache::Store store{connkit::cache::StoreOptions{}};
  connkit::cache::Endpoint endpoint(store);
  connkit::ServerOptions options;
  options.threads = 1;
  connkit::ListenerOptions listener;  // 127.0.0.1, a free port
  listener.handler = endpoint.handler_factory();
  options.listeners.push_back(std::move(listener));
  connkit::Server server(std::move(options));
  endpoint.attach(server);
  server.start();

  std::string reply;
  try {
    namespace ip = boost::asio::ip;
    boost::asio::io_context io;
    ip::tcp::socket socket(io);
    socket.connect({ip::make_address("127.0.0.1"), server.port()});
    boost::asio::write(socket, boost::asio::buffer(std::string_view("set k 0 0 2\r\nhi\r\nget k\r\n")));
    boost::asio::read_until(socket, boost::asio::dynamic_buffer(reply), "END\r\n");
  } catch (const std::exception& e) {
    std::printf("client: %s\n", e.what());
  }
  server.stop();
  server.join();
  const bool ok = reply == "STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n" && server.stopped();
  std::printf("consumer on port %u with connkit %s: %s\n", server.port(), connkit::version_string,
              ok ? "served" : "WRONG REPLY");
  return ok ? 0 : 1;
}
