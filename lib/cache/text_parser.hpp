#pragma once

#include <span>

#include "request.hpp"

namespace connkit::cache::detail {

/// memcached's text and meta protocols (proto_text.c): parses the command line at the start
/// of `input` into `out`. Pure: no I/O, no store, no allocation.
///
/// - complete: `out.size` bytes (the line and its "\n") hold the request; a storage command's
///   value (out.value_size bytes and "\r\n") follows them.
/// - need_more: no "\n" yet, and the line may still become a request (a long multi-get may
///   run past limits.max_line; anything else may not).
/// - error: `out.error` is the reply line (empty: none), under out.noreply a text command's
///   error is not sent (memcached's out_string), `out.swallow` bytes of value follow that must
///   be discarded, and `out.close` closes the connection once earlier replies are sent.
///   `out.size` is the line's length (0 with close).
///
/// Views in `out` point into `input` or into out.key_buffer (a meta b key, decoded): `out`
/// must not be copied while they are used.
ParseStatus parse_text(std::span<const char> input, Request& out, const ParseLimits& limits) noexcept;

}  // namespace connkit::cache::detail
