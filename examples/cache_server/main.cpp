// cache_server: a drop-in for memcached 1.6: its command line over connkit's cache endpoint.
//   cache_server [-l 127.0.0.1] [-p 11211] [-t 4] [-c 1024] [-m 64] [-I 1m] [-u user] [-v]   (-h lists all)

#include "cache_main.hpp"
#include "cache_options.hpp"

int main(int argc, char** argv) {
  namespace ex = connkit::examples;
  return ex::run_cache_program({.name = "cache_server", .usage = ex::cache_server_usage(), .prepare = {}},
                               ex::parse_cache_server_command_line(argc, argv));
}
