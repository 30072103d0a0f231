#!/usr/bin/python3
"""Binary protocol differential test: the same request sequences to memcached and a server.

    binary_differential.py [--server "CMD"] [--oracle "CMD"] [--dump] [CASE...]

Starts the oracle (Debian's memcached) and the server under test, each with
"-m 64 -t 2 -c 1024 -B binary" on a free loopback port (server_fixture.py), and runs every
case of CASES below (or those named) against both, each case on a new connection. A case
is a list of steps; a step is one write of one or more binary requests, followed by a NOOP
with opaque SENTINEL, and its replies are read until that NOOP's reply, the server closing
the connection, or STEP_TIMEOUT_S. The two transcripts must be equal after masking what
legitimately differs:

  * CAS values: 0 stays 0; any other value becomes c1, c2, ... in order of first
    appearance in the case, so only zero/non-zero and which replies share a value count;
  * the version string (the body of a VERSION reply): only its status is compared.

A request's cas field may be LAST_CAS or LAST_CAS_PLUS_1, replaced at send time by the
last non-zero CAS that server returned on the connection (or that plus one): each server
is sent its own numbers.

QUIRK_CASES (memcached's quirks) run instead with --quirks; named cases run from either table.

Exit status: 0 when every case matches, 1 on any difference, 77 (SKIP) when memcached is
not installed, 2 on usage or setup errors.
"""

import argparse
import difflib
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_fixture  # noqa: E402

MEMCACHED = "/usr/bin/memcached"
SERVER_ARGS = ["-m", "64", "-t", "2", "-c", "1024", "-B", "binary"]
SENTINEL = 0x5E5E5E5E          # opaque of the NOOP that ends each step
STEP_TIMEOUT_S = 2.0           # local replies take milliseconds; --step-timeout changes it
HEADER = struct.Struct(">BBHBBHIIQ")   # magic opcode keylen extlen datatype vbucket|status bodylen opaque cas
ITEM_SIZE_MAX = 1 << 20                # both servers' default -I

OPCODES = {
    0x00: "GET", 0x01: "SET", 0x02: "ADD", 0x03: "REPLACE", 0x04: "DELETE", 0x05: "INCR",
    0x06: "DECR", 0x07: "QUIT", 0x08: "FLUSH", 0x09: "GETQ", 0x0A: "NOOP", 0x0B: "VERSION",
    0x0C: "GETK", 0x0D: "GETKQ", 0x0E: "APPEND", 0x0F: "PREPEND", 0x10: "STAT", 0x11: "SETQ",
    0x12: "ADDQ", 0x13: "REPLACEQ", 0x14: "DELETEQ", 0x15: "INCRQ", 0x16: "DECRQ",
    0x17: "QUITQ", 0x18: "FLUSHQ", 0x19: "APPENDQ", 0x1A: "PREPENDQ", 0x1B: "VERBOSITY",
    0x1C: "TOUCH", 0x1D: "GAT", 0x1E: "GATQ", 0x23: "GATK", 0x24: "GATKQ",
}
OP = {name: code for code, name in OPCODES.items()}
LAST_CAS = "last"
LAST_CAS_PLUS_1 = "last+1"


# --------------------------------------------------------------------------- requests
class Request:
    """One binary request; `body` overrides the body length (malformed requests)."""

    def __init__(self, op, key=b"", extras=b"", value=b"", opaque=0, cas=0, magic=0x80, body=None):
        self.op, self.key, self.extras, self.value = op, key, extras, value
        self.opaque, self.cas, self.magic, self.body = opaque, cas, magic, body

    def encode(self, last_cas):
        opcode = OP[self.op] if isinstance(self.op, str) else self.op
        cas = {LAST_CAS: last_cas, LAST_CAS_PLUS_1: last_cas + 1}.get(self.cas, self.cas)
        length = len(self.extras) + len(self.key) + len(self.value) if self.body is None else self.body
        return HEADER.pack(self.magic, opcode, len(self.key), len(self.extras), 0, 0, length,
                           self.opaque, cas) + self.extras + self.key + self.value

    def describe(self):
        name = OPCODES.get(self.op, "0x%02x" % self.op) if not isinstance(self.op, str) else self.op
        parts = [name]
        if self.magic != 0x80:
            parts.append("magic=0x%02x" % self.magic)
        if self.key:
            parts.append("key=%s" % short(self.key))
        if self.extras:
            parts.append("extras=%s" % self.extras.hex())
        if self.value:
            parts.append("value=%s" % short(self.value))
        if self.body is not None:
            parts.append("bodylen=%d" % self.body)
        if self.opaque:
            parts.append("opaque=%d" % self.opaque)
        if self.cas:
            parts.append("cas=%s" % self.cas)
        return " ".join(parts)


def short(data, limit=40):
    text = repr(bytes(data[:limit]))[2:-1]
    return text + ("...(%d bytes)" % len(data) if len(data) > limit else "")


def store_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def arith_extras(delta, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def exptime_extras(exptime):
    return struct.pack(">I", exptime)


def R(op, key=b"", **fields):  # noqa: N802 (short: the case table is made of these)
    return Request(op, key, **fields)


def S(op, key, value, flags=0, exptime=0, **fields):  # noqa: N802 a storage request
    return Request(op, key, store_extras(flags, exptime), value, **fields)


# --------------------------------------------------------------------------- cases
# name -> steps; a step is a list of requests sent in one write. Every case uses keys of its
# own, so the cases may run in any order on one pair of servers.
CASES = {
    "get_miss_and_hit": [
        [R("GET", b"gm_none")], [R("GETQ", b"gm_none")], [R("GETK", b"gm_none")], [R("GETKQ", b"gm_none")],
        [S("SET", b"gm_a", b"value", flags=0xDEADBEEF)],
        [R("GET", b"gm_a", opaque=1)], [R("GETQ", b"gm_a", opaque=2)], [R("GETK", b"gm_a", opaque=3)],
        [R("GETKQ", b"gm_a", opaque=4)],
        [R("GETKQ", b"gm_a", opaque=5), R("GETKQ", b"gm_none", opaque=6), R("GETQ", b"gm_a", opaque=7)],
    ],
    "set_add_replace": [
        [S("ADD", b"sar_a", b"one")], [S("ADD", b"sar_a", b"two")], [S("REPLACE", b"sar_none", b"x")],
        [S("REPLACE", b"sar_a", b"three", flags=9)], [R("GET", b"sar_a")],
        [S("SETQ", b"sar_b", b"q")], [S("ADDQ", b"sar_b", b"q2")], [S("ADDQ", b"sar_c", b"q3")],
        [S("REPLACEQ", b"sar_none", b"q4")], [S("REPLACEQ", b"sar_b", b"q5")],
        [R("GETK", b"sar_b"), R("GETK", b"sar_c")],
        [S("SET", b"sar_empty", b"")], [R("GET", b"sar_empty")],
    ],
    "append_prepend": [
        [R("APPEND", b"ap_none", value=b"x")], [R("PREPEND", b"ap_none", value=b"x")],
        [S("SET", b"ap_a", b"mid", flags=3)], [R("APPEND", b"ap_a", value=b"_end")],
        [R("PREPEND", b"ap_a", value=b"start_")], [R("APPENDQ", b"ap_a", value=b"!")],
        [R("PREPENDQ", b"ap_a", value=b"!")], [R("APPENDQ", b"ap_none", value=b"!")],
        [R("PREPENDQ", b"ap_none", value=b"!")], [R("GET", b"ap_a")],
        # append with extras is malformed in the binary protocol
        [R("APPEND", b"ap_a", extras=store_extras(), value=b"x")],
    ],
    "cas": [
        [S("SET", b"cas_none", b"x", cas=12345)],
        [S("SET", b"cas_a", b"one")], [R("GETK", b"cas_a")],
        [S("SET", b"cas_a", b"two", cas=LAST_CAS_PLUS_1)], [S("SET", b"cas_a", b"two", cas=LAST_CAS)],
        [S("SET", b"cas_a", b"three", cas=LAST_CAS)],
        [S("REPLACE", b"cas_a", b"four", cas=LAST_CAS_PLUS_1)], [S("REPLACE", b"cas_a", b"four", cas=LAST_CAS)],
        [S("SETQ", b"cas_a", b"five", cas=LAST_CAS_PLUS_1)], [S("SETQ", b"cas_a", b"five", cas=LAST_CAS)],
        [R("GET", b"cas_a")],
        [R("APPEND", b"cas_a", value=b"+", cas=LAST_CAS_PLUS_1)], [R("APPEND", b"cas_a", value=b"+", cas=LAST_CAS)],
        [R("DELETE", b"cas_a", cas=LAST_CAS_PLUS_1)], [R("DELETE", b"cas_a", cas=LAST_CAS)],
        [S("ADD", b"cas_b", b"x", cas=LAST_CAS)],
    ],
    "delete": [
        [R("DELETE", b"del_none")], [R("DELETEQ", b"del_none")],
        [S("SET", b"del_a", b"x")], [R("DELETE", b"del_a")], [R("GET", b"del_a")],
        [S("SET", b"del_b", b"x")], [R("DELETEQ", b"del_b")], [R("GET", b"del_b")],
        [R("DELETE", b"del_a", extras=exptime_extras(0))],
    ],
    "incr_decr": [
        [R("INCR", b"ar_n", extras=arith_extras(5, 10))], [R("INCR", b"ar_n", extras=arith_extras(5, 10))],
        [R("DECR", b"ar_n", extras=arith_extras(100))], [R("DECR", b"ar_new", extras=arith_extras(1, 7))],
        [R("INCRQ", b"ar_n", extras=arith_extras(3))], [R("DECRQ", b"ar_n", extras=arith_extras(1))],
        [R("GET", b"ar_n")],
        [R("INCR", b"ar_missing", extras=arith_extras(1, 0, 0xFFFFFFFF))],
        [R("DECR", b"ar_missing", extras=arith_extras(1, 0, 0xFFFFFFFF))],
        [R("INCRQ", b"ar_missing", extras=arith_extras(1, 0, 0xFFFFFFFF))],
        [R("INCR", b"ar_ttl", extras=arith_extras(1, 42, 100))], [R("GET", b"ar_ttl")],
        [S("SET", b"ar_text", b"abc")], [R("INCR", b"ar_text", extras=arith_extras(1))],
        [S("SET", b"ar_max", b"18446744073709551615")], [R("INCR", b"ar_max", extras=arith_extras(2))],
        [R("GET", b"ar_max")],
        [S("SET", b"ar_len", b"10")], [R("INCR", b"ar_len", extras=arith_extras(100))], [R("GET", b"ar_len")],
        # wrong extras length
        [R("INCR", b"ar_n", extras=exptime_extras(1))],
    ],
    "touch_and_gat": [
        [S("SET", b"tg_a", b"value", flags=5)],
        [R("TOUCH", b"tg_a", extras=exptime_extras(100))], [R("TOUCH", b"tg_none", extras=exptime_extras(100))],
        [R("GAT", b"tg_a", extras=exptime_extras(200))], [R("GATQ", b"tg_a", extras=exptime_extras(200))],
        [R("GATK", b"tg_a", extras=exptime_extras(0))], [R("GATKQ", b"tg_a", extras=exptime_extras(0))],
        [R("GAT", b"tg_none", extras=exptime_extras(1))], [R("GATQ", b"tg_none", extras=exptime_extras(1))],
        [R("GATK", b"tg_none", extras=exptime_extras(1))], [R("GATKQ", b"tg_none", extras=exptime_extras(1))],
        [R("TOUCH", b"tg_a")],  # no extras: malformed
    ],
    # memcached 1.6.18 has no binary VERBOSITY: it answers Unknown command
    "noop_version_verbosity": [[R("NOOP", opaque=77)], [R("VERSION", opaque=78)], [R("VERBOSITY")]],
    "flush": [
        [S("SET", b"fl_a", b"x")], [R("FLUSH")], [R("GET", b"fl_a")],
        [S("SET", b"fl_b", b"x")], [R("FLUSHQ")], [R("GET", b"fl_b")],
        [S("SET", b"fl_c", b"x")], [R("FLUSH", extras=exptime_extras(0))], [R("GET", b"fl_c")],
    ],
    "quit": [[R("NOOP")], [R("QUIT", opaque=9)], [R("NOOP")]],
    "quitq": [[R("NOOP")], [R("QUITQ", opaque=9)], [R("NOOP")]],
    "unknown_opcode": [[R(0x30)], [R("NOOP")], [R(0x7F, opaque=3)], [R("NOOP")]],
    "long_key": [
        [R("GET", b"k" * 250)], [S("SET", b"k" * 250, b"x")], [R("GET", b"k" * 250)],
        [R("GET", b"k" * 251)], [R("NOOP")],
    ],
    "set_key_251": [[S("SET", b"k" * 251, b"x")], [R("NOOP")]],
    "too_large": [
        [S("SET", b"big_a", b"v" * (ITEM_SIZE_MAX + 1))], [R("GET", b"big_a")],
        [S("SETQ", b"big_b", b"v" * (ITEM_SIZE_MAX + 1))], [R("GET", b"big_b")],
        [S("SET", b"big_c", b"small")], [R("GET", b"big_c")],
    ],
    "bad_magic": [[R("NOOP")], [R("GET", b"x", magic=0x81)], [R("NOOP")]],
    "bad_magic_text": [[R("NOOP")], [R("GET", b"x", magic=ord("g"))], [R("NOOP")]],
    "body_shorter_than_key_and_extras": [
        [R("NOOP")], [Request("SET", b"short", store_extras(), b"", body=10)], [R("NOOP")],
    ],
    "get_with_extras": [[R("GET", b"x", extras=b"\0\0\0\0")], [R("NOOP")]],
    "set_without_extras": [[R("SET", b"x", value=b"abc")], [R("NOOP")]],
    "pipelined_quiet_batch": [
        [S("SETQ", b"pq_a", b"1"), S("SETQ", b"pq_b", b"2"), S("ADDQ", b"pq_a", b"3"),
         R("GETKQ", b"pq_a", opaque=1), R("GETKQ", b"pq_none", opaque=2), R("GETKQ", b"pq_b", opaque=3),
         R("DELETEQ", b"pq_none"), R("INCRQ", b"pq_a", extras=arith_extras(1)), R("GETQ", b"pq_a", opaque=4)],
    ],
}

# memcached's quirks, compared only with --quirks (as the text differential test's
# streams/quirk_*.txt): an unknown command with a body gets its reply, and then memcached
# swallows bodylen bytes more than the body (its key and extras were already read), here the
# start of the NOOP that ends the step, which then never comes.
QUIRK_CASES = {
    "quirk_unknown_opcode_with_key": [[R(0x7F, b"k")], [R("NOOP")]],
    "quirk_verbosity_with_extras": [[R("VERBOSITY", extras=exptime_extras(1))], [R("NOOP")]],
}


# --------------------------------------------------------------------------- replay
class Connection:
    def __init__(self, address, timeout):
        self.timeout = timeout
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.closed = False
        self.last_cas = 0

    def close(self):
        self.sock.close()

    def step(self, requests):
        """Sends `requests` and the sentinel NOOP; returns the reply lines."""
        data = b"".join(r.encode(self.last_cas) for r in requests)
        data += Request("NOOP", opaque=SENTINEL).encode(0)
        lines = []
        try:
            self.sock.sendall(data)
        except OSError as e:
            if not self.closed:
                lines.append("<send failed: %s>" % e.__class__.__name__)
            self.closed = True
        deadline = time.monotonic() + self.timeout
        while not self.closed:
            frame = self._frame()
            if frame is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    lines.append("<no reply to the NOOP after %g s>" % self.timeout)
                    break
                if not self._recv(left):
                    break
                continue
            if isinstance(frame, str):
                lines.append(frame)
                break
            lines.append(frame)
            if frame["opcode"] == OP["NOOP"] and frame["opaque"] == SENTINEL:
                break
        if self.closed:
            if self.buffer:
                lines.append("<%d bytes that are no response: %s>" % (len(self.buffer), short(self.buffer, 80)))
                self.buffer = b""
            lines.append("<closed>")
        return lines

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.01))
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True

    def _frame(self):
        """The next whole response frame, a string for bytes that are not one, or None."""
        if len(self.buffer) < HEADER.size:
            return None
        magic, opcode, keylen, extlen, datatype, status, bodylen, opaque, cas = HEADER.unpack_from(self.buffer)
        if magic != 0x81 or keylen + extlen > bodylen:
            text = "<not a response header: %s>" % short(self.buffer, 80)
            self.buffer = b""
            return text
        if len(self.buffer) < HEADER.size + bodylen:
            return None
        body = self.buffer[HEADER.size:HEADER.size + bodylen]
        self.buffer = self.buffer[HEADER.size + bodylen:]
        if cas:
            self.last_cas = cas
        return {"opcode": opcode, "status": status, "datatype": datatype, "opaque": opaque, "cas": cas,
                "extras": body[:extlen], "key": body[extlen:extlen + keylen], "value": body[extlen + keylen:]}


def show_frame(frame, cas_names):
    if isinstance(frame, str):
        return frame
    cas = frame["cas"]
    if cas:
        cas_names.setdefault(cas, "c%d" % (len(cas_names) + 1))
    value = frame["value"]
    if frame["opcode"] == OP["VERSION"] and frame["status"] == 0:
        value = b"<version>"
    return "< %s status=0x%04x opaque=%d cas=%s datatype=%d extras=%s key=%s value=%s" % (
        OPCODES.get(frame["opcode"], "0x%02x" % frame["opcode"]), frame["status"], frame["opaque"],
        cas_names[cas] if cas else "0", frame["datatype"], frame["extras"].hex() or "-",
        short(frame["key"]) or "-", short(value, 60) or "-")


def run_case(address, steps, timeout):
    """The transcript of one case: each step's requests and the masked replies."""
    conn = Connection(address, timeout)
    cas_names = {}
    transcript = []
    try:
        for requests in steps:
            for r in requests:
                transcript.append("> " + r.describe())
            if conn.closed:
                transcript.append("(not sent: closed)")
                continue
            transcript += [show_frame(f, cas_names) for f in conn.step(requests)]
    finally:
        conn.close()
    return transcript


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_fixture.add_server_arguments(parser)
    parser.add_argument("--oracle", default=MEMCACHED, help="the reference server (default %(default)s)")
    parser.add_argument("--dump", action="store_true", help="print the oracle's transcript of every case")
    parser.add_argument("--quirks", action="store_true",
                        help="run memcached's quirks (QUIRK_CASES) instead of the cases")
    parser.add_argument("--step-timeout", type=float, default=STEP_TIMEOUT_S,
                        help="seconds to wait for a step's replies (default %(default)s)")
    parser.add_argument("cases", nargs="*",
                        help="cases to run (default: all): " + ", ".join(list(CASES) + list(QUIRK_CASES)))
    args = parser.parse_args(argv)

    table = QUIRK_CASES if args.quirks else CASES
    if args.cases:
        table = {**CASES, **QUIRK_CASES}
    unknown = [c for c in args.cases if c not in table]
    if unknown:
        print("error: no case %s" % ", ".join(unknown))
        return 2
    oracle_cmd = server_fixture.server_command_from(args.oracle)
    if not os.path.exists(oracle_cmd[0]):
        print("SKIP: memcached not installed (%s missing): there is no oracle to compare with" % oracle_cmd[0])
        return server_fixture.SKIP
    sut_cmd = server_fixture.server_command_from(args.server)
    print("oracle: %s" % " ".join(oracle_cmd + SERVER_ARGS))
    print("server under test: %s" % " ".join(sut_cmd + SERVER_ARGS))

    failed = []
    try:
        with server_fixture.Server(oracle_cmd, SERVER_ARGS + args.server_arg, name="oracle", quiet=True) as oracle, \
             server_fixture.Server(sut_cmd, SERVER_ARGS + args.server_arg, name="server", quiet=True) as sut:
            for name in args.cases or table:
                expected = run_case(oracle.address, table[name], args.step_timeout)
                actual = (run_case(sut.address, table[name], args.step_timeout) if sut.alive()
                          else ["<server died>"])
                if args.dump:
                    print("\n".join(["== %s" % name] + expected))
                if expected == actual:
                    print("ok   %s (%d lines)" % (name, len(expected)))
                    continue
                failed.append(name)
                print("DIFF %s (--- memcached, +++ server under test):" % name)
                for line in difflib.unified_diff(expected, actual, "memcached", "server", lineterm="", n=3):
                    print("    " + line)
            if not sut.alive():
                print("the server under test died; its output:\n" + sut.output()[-4000:])
                failed.append("(server died)")
    except server_fixture.ServerStartError as e:
        print("error: %s" % e)
        return 2
    total = len(args.cases or table)
    differing = [f for f in failed if f in table]
    print("binary differential: %d of %d cases matched%s" % (
        total - len(differing), total, "; differing: " + ", ".join(differing) if differing else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
