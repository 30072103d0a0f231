#pragma once

#include <type_traits>

#include <boost/system/error_code.hpp>

namespace connkit {

/// Errors raised by connkit itself; socket errors keep their system category.
enum class errc {
  input_too_large = 1,  ///< a request did not fit in read_buffer_limit bytes
  idle_timeout,         ///< closed after idle_timeout with no input
  server_stopping,      ///< closed by a graceful stop
  stop_deadline,        ///< closed because the graceful stop's deadline passed
  protocol_close,       ///< the protocol handler asked to close
  peer_closed,          ///< the peer closed its end (EOF)
  bad_action,           ///< a handler returned an Action that cannot apply here
  invalid_option,       ///< ServerOptions or ListenerOptions hold an unusable value
  refused,              ///< the handler refused the client in on_open (Connection::refuse)
  closed_by_server,     ///< Server::close_connection() closed it
  write_stall,          ///< its replies made no progress for write_stall_timeout
  datagram_truncated,   ///< UDP: a request's body did not fit in its datagram (on_close; the listener goes on)
};

/// The category of connkit::errc values ("connkit").
const boost::system::error_category& error_category() noexcept;

/// Makes an error_code of connkit's category.
inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace connkit

template <>
struct boost::system::is_error_code_enum<connkit::errc> : std::true_type {};
