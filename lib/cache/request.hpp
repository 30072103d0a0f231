#pragma once

// The cache's request model (Pelikan's parse / execute / compose): a protocol's parser turns
// bytes into a Request, the Executor (executor.hpp) runs it against the Store, and the
// protocol's composer writes the reply. Parsers are pure functions of their input: no I/O,
// no store, no allocation, so a fuzzer and a fragment-size sweep drive them directly.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <connkit/cache/store.hpp>

namespace connkit::cache::detail {

/// What a parser made of the bytes at the start of its input.
enum class ParseStatus : std::uint8_t {
  complete,   ///< a whole request (its header: a storage command's value follows it)
  need_more,  ///< no whole request yet
  error,      ///< Request::error says what to answer; Request::close whether to close after it
};

/// Limits a parser applies (from EndpointOptions and StoreOptions).
struct ParseLimits {
  std::size_t max_line = 2048;          ///< a text line longer than this without "\n" is refused
  std::size_t item_size_max = 1u << 20; ///< a binary body past this is a protocol error
};

/// What a request asks for: text, meta and binary commands map onto these.
enum class Command : std::uint8_t {
  unknown,
  get, gets, gat, gats,                           // retrieval, one or more keys
  set, add, replace, append, prepend, cas,        // storage: value_size bytes follow
  del, incr, decr, touch,
  flush_all, version, verbosity, stats, quit, shutdown, noop,
  meta_get, meta_set, meta_delete, meta_arithmetic, meta_debug,
  cache_memlimit, lru_crawler,                    // operator commands (operator_commands.cpp)
};

/// The longest meta O (opaque) token, its letter included (MFLAG_MAX_OPAQUE_LENGTH).
inline constexpr std::size_t max_opaque_length = 32;
/// Most flag tokens a meta command may carry (memcached's MFLAG_MAX_OPT_LENGTH, minus the
/// command and key).
inline constexpr std::size_t max_meta_flags = 20;

/// A meta command's flags (memcached's struct _meta_flags), parsed, plus the flag tokens in
/// request order for the reply's return flags.
struct MetaFlags {
  bool no_update = false;   ///< u
  bool vivify = false;      ///< N
  bool value = false;       ///< v
  bool set_stale = false;   ///< I
  bool quiet = false;       ///< q
  bool has_cas = false;     ///< C
  bool new_ttl = false;     ///< T
  bool key_binary = false;  ///< b: the key was base64 (Request::key holds it decoded)
  bool recache = false;     ///< R
  char mode = 0;            ///< M
  std::int32_t exptime = 0, vivify_exptime = 0, recache_time = 0;
  std::uint32_t client_flags = 0;  ///< F
  std::uint64_t cas = 0, delta = 1, initial = 0;  ///< C, D, J
  std::string_view tokens[max_meta_flags];  ///< every flag token, in order (views into the line)
  std::size_t count = 0;
  std::span<const std::string_view> flags() const noexcept { return {tokens, count}; }
};

/// Binary-protocol fields a reply echoes.
struct BinaryFields {
  std::uint8_t opcode = 0;
  std::uint32_t opaque = 0;
  bool with_key = false;  ///< GETK, GETKQ, GATK, GATKQ: the reply carries the key
};

/// One request, typed. Views point into the parser's input (or into key_buffer): valid while
/// that input is, i.e. for the on_input call that parsed it.
struct Request {
  Command command = Command::unknown;
  std::size_t size = 0;          ///< input bytes of the request's header (line, or header + extras + key)
  std::string_view key;          ///< the (first) key; decoded for meta b
  std::string_view keys;         ///< get family (text): every key, space-separated, `key` first
  std::uint32_t flags = 0;       ///< storage: client flags
  std::int64_t exptime = 0;      ///< storage, touch, gat, flush_all: client exptime (memcached's realtime() form)
  std::size_t value_size = 0;    ///< storage: value bytes, without the text protocol's "\r\n"
  std::uint64_t cas = 0;         ///< cas / binary: the CAS unique compared (0: none)
  StoreMode mode = StoreMode::set;  ///< storage: how the executor links the value (the parser decides:
                                    ///< meta's M and C, binary's CAS turn set/add/replace into cas)
  bool set_stale = false;        ///< storage: meta I (a cas older than the item's stores it stale)
  std::uint64_t delta = 0;       ///< incr, decr
  std::uint64_t initial = 0;     ///< binary incr, decr: created from this on a miss ...
  bool create = false;           ///< ... unless exptime was 0xffffffff
  bool noreply = false;          ///< text noreply, binary quiet form
  bool has_exptime = false;      ///< flush_all given a delay
  std::uint32_t level = 0;       ///< verbosity: the level; cache_memlimit: megabytes
  std::string_view argument;     ///< stats, lru_crawler: what follows the command ("" = general stats; text: "detail on", ...)
  std::size_t swallow = 0;       ///< ParseStatus::error: input bytes to discard after the header (a refused value)
  /// ParseStatus::error: the reply ("CLIENT_ERROR ..." / "ERROR"; binary: its message); empty: none.
  /// On a complete flush_all, a bad delay found after the command counts (memcached checks it then).
  std::string_view error;
  bool close = false;            ///< ParseStatus::error: close once the error is sent
  std::uint16_t binary_status = 0;  ///< binary error: the status to send
  BinaryFields binary;           ///< binary requests
  MetaFlags meta;                ///< meta commands
  char key_buffer[max_key_length + 1];  ///< a meta b key, decoded (not thread_local: the request owns it)
};

/// memcached's key rule, in one place: 1 to max_key_length bytes.
constexpr bool valid_key_length(std::size_t size) noexcept { return size > 0 && size <= max_key_length; }

}  // namespace connkit::cache::detail
