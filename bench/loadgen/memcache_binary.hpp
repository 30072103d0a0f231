#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "workload.hpp"

namespace loadgen {

class MemcacheWorkload;

/// memcached binary protocol opcodes loadgen uses (protocol_binary.h).
enum class BinaryOp : std::uint8_t { get = 0x00, set = 0x01, noop = 0x0a, getk = 0x0c, getkq = 0x0d, setq = 0x11 };

/// Size of a binary request or response header.
inline constexpr std::size_t binary_header_size = 24;

/// Appends a binary set (or setq) of key `n` with flags 0 and no expiry.
void append_binary_set(std::string& out, const MemcacheWorkload& workload, std::uint64_t n, BinaryOp op,
                       std::uint32_t opaque);

/// Appends a binary request with no extras, key or value (noop).
void append_binary_noop(std::string& out, std::uint32_t opaque);

/// True if `header` (24 bytes) is a successful response to a noop.
bool is_binary_noop_ok(const unsigned char* header);

/// The binary-protocol session of connection `index`. A set is SET with 8 bytes of extras
/// (flags 0, expiry 0) and a get of one key is GET (no key in the reply), both with opaque 0
/// and cas 0: byte for byte what memtier_benchmark's memcache_binary protocol sends
/// (protocol.cpp, write_command_set/get), so a run stands in for memtier's. With
/// `MemcacheSettings::binary_getk` a single get is GETK, as libmemcached sends it. A
/// multi-get is one GETKQ per key and a NOOP that ends it (memtier has no binary multi-get;
/// this is libmemcached's). Outside memtier's shape (GETK, multi-gets, and the sets mixed
/// with them) requests carry a running opaque that every reply is checked against.
std::unique_ptr<WorkloadSession> make_binary_session(const MemcacheWorkload& workload, std::size_t index);

}  // namespace loadgen
