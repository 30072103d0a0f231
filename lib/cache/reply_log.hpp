#pragma once

// memcached's -vv lines about text-protocol replies (out_string and process_get_command in
// proto_text.c). Called only once the handler has seen verbosity above 1, so at -v0 and -v
// the hot path pays one branch on a flag and nothing here.

#include <string_view>

#include <connkit/connection.hpp>

namespace connkit::cache::detail {

/// ">fd text", or ">fd NOREPLY text" for a reply noreply keeps back.
void log_reply(const Connection& conn, std::string_view text, bool noreply);
/// ">fd sending key KEY": a get hit, before its value.
void log_sending_key(const Connection& conn, std::string_view key);

}  // namespace connkit::cache::detail
