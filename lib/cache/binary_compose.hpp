#pragma once

// memcached's binary protocol, the compose step: response packets queued on a Connection.
// Which requests get a reply at all (the quiet forms) is the handler's decision; these
// write what they are asked to.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <connkit/cache/store.hpp>
#include <connkit/connection.hpp>

#include "binary_parser.hpp"
#include "request.hpp"

namespace connkit::cache::detail {

/// A response header's fields (protocol_binary_response_header), host order.
struct BinaryResponse {
  std::uint8_t opcode = 0;  ///< the request's opcode as sent (a quiet one stays quiet)
  BinaryStatus status = BinaryStatus::success;
  std::uint16_t key_length = 0;
  std::uint8_t extras_length = 0;
  std::uint32_t body_length = 0;  ///< extras + key + value
  std::uint32_t opaque = 0;       ///< the request's, echoed
  std::uint64_t cas = 0;
};

/// Writes the 24-byte header at `p` (datatype raw bytes); returns p + 24.
char* write_binary_header(char* p, const BinaryResponse& response) noexcept;

/// A reply to `request` with the given parts, copied (memcached's write_bin_response, and
/// add_bin_header for the rest).
void bin_response(Connection& conn, const Request& request, BinaryStatus status, std::string_view extras = {},
                  std::string_view key = {}, std::string_view value = {}, std::uint64_t cas = 0);

/// An error with memcached's text for it (write_bin_error); CAS 0.
inline void bin_error(Connection& conn, const Request& request, BinaryStatus status) {
  bin_response(conn, request, status, {}, {}, binary_error_text(status));
}

/// A storage command that found no memory: ENOMEM with the text memcached's out_of_memory()
/// sends binary clients ("SERVER_ERROR Out of memory allocating item" without its prefix).
inline void bin_store_no_memory(Connection& conn, const Request& request) {
  bin_response(conn, request, BinaryStatus::enomem, {}, {}, "Out of memory allocating item");
}

/// A GET, GAT or TOUCH hit (process_bin_get_or_touch): 4 bytes of flags as extras, the key
/// when request.binary.with_key, and the value unless `with_value` is false (TOUCH). Values
/// up to copy_value_limit are copied after the header; larger ones are sent from the item.
void bin_item(Connection& conn, const Request& request, Item& item, bool with_value, std::uint64_t cas);

/// Binary STAT packets for `lines` of memcached's text stats ("STAT name value\r\n" each),
/// as append_stats makes them: the name as key, the value as body.
void bin_stat_lines(Connection& conn, const Request& request, std::string_view lines);

}  // namespace connkit::cache::detail
