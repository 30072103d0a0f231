#pragma once

#include <cstdint>
#include <string_view>

namespace connkit {

/// Where a connection is in its protocol state machine (memcached's `enum conn_states`).
/// Only the library assigns states, in one place (Connection::set_state); a protocol
/// handler chooses transitions by the Action it returns.
enum class ConnState : std::uint8_t {
  listening,  ///< listener only: waiting in accept
  new_cmd,    ///< between requests: apply the fairness budget, pick the next step
  waiting,    ///< no unparsed input: drop idle buffers, wait for the socket to be readable
  read,       ///< read into the read buffer
  parse_cmd,  ///< hand unparsed input to the protocol handler
  nread,      ///< read a body of known length
  swallow,    ///< discard a body of known length
  write,      ///< send a single formatted reply
  mwrite,     ///< send the gathered reply list with one scatter-gather write
  io_queue,   ///< max_deferred replies in flight: wait for one to complete before parsing more
  closing,    ///< release buffers and the socket, then return to the pool
};

/// memcached's `state_text()`: the name used in logs and `stats conns`.
constexpr std::string_view to_string(ConnState s) noexcept {
  switch (s) {
    case ConnState::listening: return "listening";
    case ConnState::new_cmd:   return "new_cmd";
    case ConnState::waiting:   return "waiting";
    case ConnState::read:      return "read";
    case ConnState::parse_cmd: return "parse_cmd";
    case ConnState::nread:     return "nread";
    case ConnState::swallow:   return "swallow";
    case ConnState::write:     return "write";
    case ConnState::mwrite:    return "mwrite";
    case ConnState::io_queue:  return "io_queue";
    case ConnState::closing:   return "closing";
  }
  return "?";
}

}  // namespace connkit
