#pragma once

#include <cstdint>
#include <string_view>

// memcached 1.6's option names (memcached.c, main()), used only by cache_options.cpp.

namespace connkit::examples::detail {

/// Whether an option takes a value.
enum class Arg : std::uint8_t {
  none,      ///< a flag
  required,  ///< a value, attached or in the next argument
  optional,  ///< long form only: a value after '=' (memcached's --verbose)
};

/// One of memcached's options: short name, long name, value.
struct OptionSpec {
  char name;                   ///< the short option
  std::string_view long_name;  ///< empty: short form only
  Arg arg;                     ///< whether it takes a value
};

/// memcached 1.6's shortopts and longopts. Every option is listed, so that the ones
/// cache_server lacks are refused by name rather than as an invalid option.
inline constexpr OptionSpec option_table[] = {
    {'a', "unix-mask", Arg::required},      {'A', "enable-shutdown", Arg::none},
    {'Z', "enable-ssl", Arg::none},         {'p', "port", Arg::required},
    {'s', "unix-socket", Arg::required},    {'U', "udp-port", Arg::required},
    {'m', "memory-limit", Arg::required},   {'M', "disable-evictions", Arg::none},
    {'c', "conn-limit", Arg::required},     {'k', "lock-memory", Arg::none},
    {'h', "help", Arg::none},               {'i', "license", Arg::none},
    {'V', "version", Arg::none},            {'r', "enable-coredumps", Arg::none},
    {'v', "verbose", Arg::optional},        {'d', "daemon", Arg::none},
    {'l', "listen", Arg::required},         {'u', "user", Arg::required},
    {'P', "pidfile", Arg::required},        {'f', "slab-growth-factor", Arg::required},
    {'n', "slab-min-size", Arg::required},  {'t', "threads", Arg::required},
    {'D', "", Arg::required},               {'L', "enable-largepages", Arg::none},
    {'R', "max-reqs-per-event", Arg::required}, {'C', "disable-cas", Arg::none},
    {'b', "listen-backlog", Arg::required}, {'B', "protocol", Arg::required},
    {'I', "max-item-size", Arg::required},  {'S', "enable-sasl", Arg::none},
    {'F', "disable-flush-all", Arg::none},  {'X', "disable-dumping", Arg::none},
    {'W', "disable-watch", Arg::none},      {'Y', "auth-file", Arg::required},
    {'e', "memory-file", Arg::required},    {'o', "extended", Arg::required},
    {'N', "napi-ids", Arg::required},
};

/// An -o token that tunes memcached's slab allocator, LRU threads, hash table or logger.
struct Suboption {
  std::string_view name;     ///< the token before '='
  std::string_view missing;  ///< memcached's error when the value is absent; empty: none needed
};

/// memcached 1.6's -o tokens with no meaning for connkit's store: accepted and ignored.
/// TLS (ssl_*), proxy (proxy_*) and extstore (ext_*) tokens are absent on purpose: they
/// would promise a feature, so they stay illegal. idle_timeout is implemented, not listed.
inline constexpr Suboption ignored_suboptions[] = {
    {"hashpower", "Missing numeric argument for hashpower"},
    {"slab_automove_ratio", "Missing slab_automove_ratio argument"},
    {"slab_automove_window", "Missing slab_automove_window argument"},
    {"tail_repair_time", "Missing numeric argument for tail_repair_time"},
    {"hash_algorithm", "Missing hash_algorithm argument"},
    {"lru_crawler_sleep", "Missing lru_crawler_sleep value"},
    {"lru_crawler_tocrawl", "Missing lru_crawler_tocrawl value"},
    {"hot_lru_pct", "Missing hot_lru_pct argument"},
    {"warm_lru_pct", "Missing warm_lru_pct argument"},
    {"hot_max_factor", "Missing hot_max_factor argument"},
    {"warm_max_factor", "Missing warm_max_factor argument"},
    {"temporary_ttl", "Missing temporary_ttl argument"},
    {"watcher_logbuf_size", "Missing watcher_logbuf_size argument"},
    {"worker_logbuf_size", "Missing worker_logbuf_size argument"},
    {"slab_sizes", "Missing slab_sizes argument"},
    {"slab_chunk_max", "Missing slab_chunk_max argument"},
    {"read_buf_mem_limit", "Missing read_buf_mem_limit argument"},
    {"slab_automove", ""},      {"maxconns_fast", ""},      {"no_maxconns_fast", ""},
    {"no_hashexpand", ""},      {"slab_reassign", ""},      {"no_slab_reassign", ""},
    {"no_slab_automove", ""},   {"lru_crawler", ""},        {"no_lru_crawler", ""},
    {"lru_maintainer", ""},     {"no_lru_maintainer", ""},  {"track_sizes", ""},
    {"inline_ascii_resp", ""},  {"no_inline_ascii_resp", ""}, {"modern", ""},
    {"no_modern", ""},          {"no_chunked_items", ""},   {"drop_privileges", ""},
    {"no_drop_privileges", ""}, {"resp_obj_mem_limit", ""},
};

}  // namespace connkit::examples::detail
