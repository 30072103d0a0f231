#pragma once

#include <string>

namespace connkit::test {

/// A pipelined session of the line-protocol example touching every Action (bodies read into
/// the buffer and into handler memory, swallow, errors, a body larger than allowed), and the
/// byte-exact replies it must produce.
inline const std::string line_script =
    "PING\r\n"
    "ECHO 5\r\nhello\r\n"
    "PUT 3\r\nabc\r\n"
    "GET\r\n"
    "DROP 4\r\nxxxx"
    "NOPE\r\n"
    "ECHO x\r\n"
    "ECHO 70000\r\n" + std::string(70000, 'z') + "\r\n"
    "ECHO 2\r\nabXY"
    "PING\r\n"
    "ECHO 0\r\n\r\n";
inline const std::string line_script_replies =
    "PONG\r\n"
    "OK 5\r\nhello\r\n"
    "STORED\r\n"
    "VALUE 3\r\nabc\r\n"
    "DROPPED\r\n"
    "ERROR\r\n"
    "CLIENT_ERROR bad command line format\r\n"
    "SERVER_ERROR object too large\r\n"
    "CLIENT_ERROR bad data chunk\r\n"
    "PONG\r\n"
    "OK 0\r\n\r\n";

}  // namespace connkit::test
