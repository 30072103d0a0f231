#include "binary_parser.hpp"

namespace connkit::cache::detail {
namespace {

std::uint16_t read16(const char* p) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>(b[0] << 8 | b[1]);
}

std::uint32_t read32(const char* p) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | b[3];
}

std::uint64_t read64(const char* p) noexcept { return std::uint64_t{read32(p)} << 32 | read32(p + 4); }

/// What the header says, host order (memcached's c->binary_header after ntoh*).
struct Header {
  std::uint8_t opcode;
  std::uint8_t extlen;
  std::uint16_t keylen;
  std::uint32_t bodylen;
  std::uint64_t cas;
};

/// The served opcodes' shape rules (dispatch_bin_command's switch); the quiet forms share
/// their loud form's rule.
enum class Shape : std::uint8_t { unserved, valid, invalid };

Shape check_shape(BinaryCommand command, const Header& h) noexcept {
  const std::uint32_t key = h.keylen, ext = h.extlen, body = h.bodylen;
  bool ok = false;
  switch (command) {
    case BinaryCommand::version:
    case BinaryCommand::noop:
    case BinaryCommand::quit:
    case BinaryCommand::quitq:
    case BinaryCommand::sasl_list_mechs:
      ok = ext == 0 && key == 0 && body == 0;
      break;
    case BinaryCommand::flush:
    case BinaryCommand::flushq:
      ok = key == 0 && body == ext && (ext == 0 || ext == 4);
      break;
    case BinaryCommand::set: case BinaryCommand::setq:
    case BinaryCommand::add: case BinaryCommand::addq:
    case BinaryCommand::replace: case BinaryCommand::replaceq:
      ok = ext == 8 && key != 0 && body >= key + 8;
      break;
    case BinaryCommand::get: case BinaryCommand::getq:
    case BinaryCommand::getk: case BinaryCommand::getkq:
    case BinaryCommand::del: case BinaryCommand::deleteq:
      ok = ext == 0 && key > 0 && body == key;
      break;
    case BinaryCommand::increment: case BinaryCommand::incrementq:
    case BinaryCommand::decrement: case BinaryCommand::decrementq:
      ok = key > 0 && ext == 20 && body == key + ext;
      break;
    case BinaryCommand::append: case BinaryCommand::appendq:
    case BinaryCommand::prepend: case BinaryCommand::prependq:
      ok = key > 0 && ext == 0;
      break;
    case BinaryCommand::stat:
      ok = ext == 0;
      break;
    case BinaryCommand::sasl_auth:
    case BinaryCommand::sasl_step:
      ok = ext == 0 && key != 0;
      break;
    case BinaryCommand::touch:
    case BinaryCommand::gat: case BinaryCommand::gatq:
    case BinaryCommand::gatk: case BinaryCommand::gatkq:
      ok = ext == 4 && key != 0;
      break;
    default:
      return Shape::unserved;
  }
  return ok ? Shape::valid : Shape::invalid;
}

/// The fields a binary request sets, reset (the rest of Request is the text protocols').
void reset(Request& out) noexcept {
  out.command = Command::unknown;
  out.size = 0;
  out.key = {};
  out.keys = {};
  out.flags = 0;
  out.exptime = 0;
  out.value_size = 0;
  out.cas = 0;
  out.mode = StoreMode::set;
  out.set_stale = false;
  out.delta = 0;
  out.initial = 0;
  out.create = false;
  out.noreply = false;
  out.has_exptime = false;
  out.argument = {};
  out.error = {};
  out.close = false;
  out.binary_status = 0;
  out.binary = BinaryFields{};
}

ParseStatus fail(Request& out, BinaryStatus status, bool close) noexcept {
  out.binary_status = static_cast<std::uint16_t>(status);
  out.error = binary_error_text(status);
  out.close = close;
  return ParseStatus::error;
}

/// Fills `out` for a served request whose extras and key are at `ext` and `key`.
void fill(Request& out, BinaryCommand command, const Header& h, const char* ext, std::string_view key) noexcept {
  using B = BinaryCommand;
  out.key = key;
  switch (command) {
    case B::getq: case B::getkq: case B::gatq: case B::gatkq:
    case B::setq: case B::addq: case B::replaceq: case B::appendq: case B::prependq:
    case B::deleteq: case B::incrementq: case B::decrementq: case B::quitq: case B::flushq:
      out.noreply = true;
      break;
    default:
      break;
  }
  switch (command) {
    case B::get: case B::getq: case B::getk: case B::getkq:
      out.command = Command::get;
      out.binary.with_key = command == B::getk || command == B::getkq;
      break;
    case B::touch:
    case B::gat: case B::gatq: case B::gatk: case B::gatkq:
      out.command = command == B::touch ? Command::touch : Command::gat;
      out.binary.with_key = command == B::gatk || command == B::gatkq;
      // An unsigned 32-bit expiry: binary clients cannot send memcached's negative "expired".
      out.exptime = read32(ext);
      break;
    case B::set: case B::setq: case B::add: case B::addq: case B::replace: case B::replaceq: {
      const bool set = command == B::set || command == B::setq;
      const bool add = command == B::add || command == B::addq;
      out.command = set ? Command::set : add ? Command::add : Command::replace;
      out.flags = read32(ext);
      out.exptime = read32(ext + 4);
      out.value_size = h.bodylen - h.keylen - h.extlen;
      out.cas = h.cas;
      // process_bin_update: any of the three with a CAS is a cas.
      out.mode = h.cas != 0 ? StoreMode::cas : set ? StoreMode::set : add ? StoreMode::add : StoreMode::replace;
      break;
    }
    case B::append: case B::appendq: case B::prepend: case B::prependq: {
      const bool append = command == B::append || command == B::appendq;
      out.command = append ? Command::append : Command::prepend;
      out.mode = append ? StoreMode::append : StoreMode::prepend;
      out.value_size = h.bodylen - h.keylen;
      out.cas = h.cas;  // do_store_item compares it with the old item's
      break;
    }
    case B::del: case B::deleteq:
      out.command = Command::del;
      out.cas = h.cas;  // process_bin_delete deletes only on a match
      break;
    case B::increment: case B::incrementq: case B::decrement: case B::decrementq: {
      const bool incr = command == B::increment || command == B::incrementq;
      out.command = incr ? Command::incr : Command::decr;
      out.delta = read64(ext);
      out.initial = read64(ext + 8);
      const std::uint32_t expiration = read32(ext + 16);
      out.create = expiration != binary_no_create;
      out.exptime = out.create ? expiration : 0;
      out.cas = h.cas;
      break;
    }
    case B::flush: case B::flushq:
      out.command = Command::flush_all;
      out.has_exptime = h.extlen == 4;
      out.exptime = out.has_exptime ? read32(ext) : 0;
      break;
    case B::quit: case B::quitq: out.command = Command::quit; break;
    case B::noop: out.command = Command::noop; break;
    case B::version: out.command = Command::version; break;
    case B::stat:
      out.command = Command::stats;
      out.argument = key;  // the group: "" for the general stats
      break;
    default:
      break;
  }
}

}  // namespace

ParseStatus parse_binary(std::span<const char> input, Request& out, const ParseLimits& limits) noexcept {
  (void)limits;  // see the header: nothing binary is buffered beyond header, extras and key
  reset(out);
  if (input.empty()) return ParseStatus::need_more;
  const char* p = input.data();
  // memcached's "Invalid magic": closed, nothing sent. Decided on the first byte, so a text
  // client on a binary-only listener is closed at once rather than left waiting for a
  // 24-byte header it will never send (memcached waits for the whole header first).
  if (static_cast<std::uint8_t>(p[0]) != binary_request_magic) {
    out.close = true;
    return ParseStatus::error;
  }
  if (input.size() < binary_header_size) return ParseStatus::need_more;
  const Header h{static_cast<std::uint8_t>(p[1]), static_cast<std::uint8_t>(p[4]), read16(p + 2), read32(p + 8),
                 read64(p + 16)};
  out.binary.opcode = h.opcode;
  out.binary.opaque = read32(p + 12);  // echoed as sent: byte order is the client's business
  // dispatch_bin_command's checks, in its order: lengths that cannot add up, then a key
  // longer than the server's, then the opcode's own rule.
  if (h.keylen > h.bodylen || std::uint32_t{h.keylen} + h.extlen > h.bodylen) {
    return fail(out, BinaryStatus::unknown_command, true);
  }
  if (h.keylen > max_key_length) return fail(out, BinaryStatus::einval, true);  // 16-bit on the wire
  const auto command = static_cast<BinaryCommand>(h.opcode);
  const Shape shape = check_shape(command, h);
  if (shape == Shape::invalid) return fail(out, BinaryStatus::einval, true);
  if (shape == Shape::unserved || command == BinaryCommand::sasl_list_mechs ||
      command == BinaryCommand::sasl_auth || command == BinaryCommand::sasl_step) {
    // Unknown (SASL is off): answered, and the body swallowed. memcached has already taken
    // extras and key and then swallows the body length (SASL: the body less the key).
    const bool sasl = shape != Shape::unserved;
    out.size = binary_header_size;
    out.value_size = std::size_t{h.extlen} + h.keylen + (sasl ? h.bodylen - h.keylen : h.bodylen);
    return fail(out, BinaryStatus::unknown_command, false);
  }
  const std::size_t size = binary_header_size + h.extlen + h.keylen;
  if (input.size() < size) return ParseStatus::need_more;
  out.size = size;
  fill(out, command, h, p + binary_header_size, {p + binary_header_size + h.extlen, h.keylen});
  return ParseStatus::complete;
}

}  // namespace connkit::cache::detail
