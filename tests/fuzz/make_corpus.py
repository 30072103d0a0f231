#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora, tests/fuzz/corpus/<target>/, from the transcripts.

    tests/fuzz/make_corpus.py          (from anywhere; rewrites the four directories)

Sources:
  * text and meta requests: the string literals sent by tests/cache_text_test.cpp and
    tests/cache_meta_test.cpp (EXPECT_REPLY, line_reply, send_all) and the streams of the
    differential test, tests/clients/streams/*.txt;
  * binary requests: encoded here, one per opcode the cache serves and a few malformed ones
    (bad magic, a body shorter than its key and extras, a 251-byte key, an unknown opcode).

text_parser_fuzz and meta_parser_fuzz get one command line per file (meta lines in the
meta target's form: a byte that picks the command, then the rest of the line);
binary_parser_fuzz one request per file; connection_fuzz whole sessions (a test case's
requests, a stream file, binary sequences), each behind the fragment-size bytes that
connection_fuzz.cpp reads first: whole, and for some one byte and seven bytes at a time.
Files are named by the SHA-1 of their content, as libFuzzer names what it finds. The
output is the same on every run; commit it. Files named regression-* (inputs that once
crashed a target, docs/fuzzing.md) are kept.
"""

import glob
import hashlib
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
MAX_SESSION = 16 * 1024   # larger sessions (the 1 MiB values) slow every run that mutates them
META_COMMANDS = [b"mg ", b"ms ", b"md ", b"ma ", b"me ", b"mn"]  # meta_parser_fuzz.cpp's order
WHOLE = b"\x00\x00"                  # one fragment size, 0: the stream in one write
BYTES_1_AND_7 = b"\x01\x01\x07"      # two sizes: 1 byte, then 7, in turn


# ------------------------------------------------------------------ text sources
_LITERALS = r'((?:"(?:[^"\\]|\\.)*"\s*)+)'
_CALLS = [re.compile(r"EXPECT_REPLY\(\s*\w+,\s*" + _LITERALS + r","),
          re.compile(r"line_reply\(\s*\w+,\s*" + _LITERALS + r"\)"),
          re.compile(r"send_all\(\s*" + _LITERALS + r"\)")]


def c_string(literals):
    """The bytes of adjacent C string literals."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', literals)
    return b"".join(p.encode("latin-1").decode("unicode_escape").encode("latin-1") for p in parts)


def test_cases(path):
    """The literal requests of each TEST_CASE in a C++ test file, as lists."""
    text = open(path, encoding="utf-8").read()
    cases = []
    for body in re.split(r"\nTEST_CASE\(", text)[1:]:
        found = []
        for call in _CALLS:
            found += [(m.start(), c_string(m.group(1))) for m in call.finditer(body)]
        requests = [r for _, r in sorted(found) if r]
        if requests:
            cases.append(requests)
    return cases


_STREAM_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", "s": b" ", "0": b"\0"}


def stream_unescape(text):
    """The differential test's escapes (tests/clients/differential_test.py)."""
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            if text[i + 1] == "x":
                out += bytes([int(text[i + 2:i + 4], 16)])
                i += 4
                continue
            out += _STREAM_ESCAPES.get(text[i + 1], text[i + 1].encode())
            i += 2
            continue
        out += text[i].encode()
        i += 1
    return bytes(out)


def stream_sessions(path):
    """The bytes a stream file sends, one session per connection (split at `reconnect`)."""
    sessions = [bytearray()]
    for line in open(path, encoding="utf-8").read().splitlines():
        marker, _, data = line.partition(" ")
        if marker in (">", "+", "send"):
            sessions[-1] += stream_unescape(data)
        elif marker == "fill":
            count, byte = data.split(" ", 1)
            sessions[-1] += stream_unescape(byte) * int(count)
        elif marker == "reconnect":
            sessions.append(bytearray())
    return [bytes(s) for s in sessions if s]


def lines_of(stream):
    """Each "\\n"-ended line of `stream`, "\\n" included, and a last unfinished one."""
    return [line for line in re.split(b"(?<=\n)", stream) if line]


# ------------------------------------------------------------------ binary requests
def binary(opcode, key=b"", extras=b"", value=b"", magic=0x80, opaque=0, cas=0, body=None):
    """One request: header, extras, key, value (memcached's protocol_binary.h layout)."""
    length = len(extras) + len(key) + len(value) if body is None else body
    header = struct.pack(">BBHBBHIIQ", magic, opcode, len(key), len(extras), 0, 0, length, opaque, cas)
    return header + extras + key + value


GET, SET, ADD, REPLACE, DELETE, INCR, DECR, QUIT, FLUSH, GETQ, NOOP, VERSION = range(0x0c)
GETK, GETKQ, APPEND, PREPEND, STAT, SETQ, ADDQ, REPLACEQ, DELETEQ, INCRQ, DECRQ, QUITQ = range(0x0c, 0x18)
FLUSHQ, APPENDQ, PREPENDQ, VERBOSITY, TOUCH, GAT, GATQ = range(0x18, 0x1f)
GATK, GATKQ = 0x23, 0x24


def binary_requests():
    flags_exp = struct.pack(">II", 7, 0)
    arith = struct.pack(">QQI", 5, 10, 0)
    arith_missing_no_create = struct.pack(">QQI", 1, 0, 0xFFFFFFFF)
    exptime = struct.pack(">I", 100)
    requests = [
        binary(GET, b"foo"), binary(GETQ, b"foo"), binary(GETK, b"foo"), binary(GETKQ, b"foo", opaque=7),
        binary(SET, b"foo", flags_exp, b"bar"), binary(SETQ, b"foo", flags_exp, b"bar"),
        binary(ADD, b"foo", flags_exp, b"bar"), binary(ADDQ, b"foo", flags_exp, b"bar"),
        binary(REPLACE, b"foo", flags_exp, b"baz"), binary(REPLACEQ, b"foo", flags_exp, b"baz"),
        binary(SET, b"foo", flags_exp, b"cas", cas=1), binary(APPEND, b"foo", value=b"++"),
        binary(PREPEND, b"foo", value=b"--"), binary(APPENDQ, b"foo", value=b"+"),
        binary(PREPENDQ, b"foo", value=b"-"), binary(DELETE, b"foo"), binary(DELETEQ, b"foo"),
        binary(INCR, b"n", arith), binary(DECR, b"n", arith), binary(INCRQ, b"n", arith),
        binary(DECRQ, b"n", arith), binary(INCR, b"none", arith_missing_no_create),
        binary(TOUCH, b"foo", exptime), binary(GAT, b"foo", exptime), binary(GATQ, b"foo", exptime),
        binary(GATK, b"foo", exptime), binary(GATKQ, b"foo", exptime), binary(NOOP),
        binary(VERSION), binary(STAT), binary(STAT, b"settings"), binary(FLUSH),
        binary(FLUSH, extras=struct.pack(">I", 10)), binary(FLUSHQ), binary(VERBOSITY, extras=struct.pack(">I", 1)),
        binary(QUIT), binary(QUITQ),
        # malformed: unknown opcode, bad magic, a body shorter than key + extras, a key over
        # 250 bytes, a get with extras, a set without them, a huge declared body
        binary(0x7f, b"foo"), binary(GET, b"foo", magic=0x81), binary(SET, b"foo", flags_exp, body=4),
        binary(GET, b"k" * 251), binary(GET, b"foo", extras=b"\0\0\0\0"), binary(SET, b"foo", value=b"bar"),
        binary(SET, b"big", flags_exp, body=(1 << 20) + 100),
    ]
    return requests


def binary_sessions(requests):
    """Sessions mixing the binary requests: a store-and-read sequence and everything once."""
    flags_exp = struct.pack(">II", 0, 0)
    sequence = [binary(SET, b"a", flags_exp, b"1"), binary(GETKQ, b"a", opaque=1), binary(GETKQ, b"b", opaque=2),
                binary(NOOP, opaque=3), binary(INCR, b"a", struct.pack(">QQI", 1, 0, 0)), binary(GET, b"a"),
                binary(DELETE, b"a"), binary(GET, b"a")]
    everything = [r for r in requests if r[1] not in (QUIT, QUITQ) and r[0] == 0x80 and len(r) < 400]
    return [b"".join(sequence), b"".join(everything), b"".join(everything) + binary(QUIT)]


# ------------------------------------------------------------------ writing
def write_corpus(target, inputs):
    """Replaces the seeds of `target`; keeps the regression-* inputs added by hand."""
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if not name.startswith("regression-"):
            os.remove(os.path.join(directory, name))
    names = set()
    for data in inputs:
        name = hashlib.sha1(data).hexdigest()
        if name in names:
            continue
        names.add(name)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    print("%-20s %4d seeds" % (target, len(names)))


def main():
    cases = []
    for name in ("cache_text_test.cpp", "cache_meta_test.cpp", "cache_loader_test.cpp"):
        cases += test_cases(os.path.join(TESTS, name))
    streams = []
    for path in sorted(glob.glob(os.path.join(TESTS, "clients", "streams", "*.txt"))):
        streams += stream_sessions(path)

    lines = []
    for session in [b"".join(case) for case in cases] + streams:
        lines += [line for line in lines_of(session) if len(line) <= 4096]
    text_lines = [line for line in lines if not line.startswith(b"m")]
    meta_lines = []
    for line in lines:
        for index, command in enumerate(META_COMMANDS):
            if line.startswith(command):
                meta_lines.append(bytes([index]) + line[len(command):])
                break

    requests = binary_requests()
    sessions = [b"".join(case) for case in cases] + streams + binary_sessions(requests)
    sessions = [s for s in sessions if len(s) <= MAX_SESSION]
    connection = [WHOLE + s for s in sessions] + [BYTES_1_AND_7 + s for s in sessions if len(s) <= 2048]

    write_corpus("text_parser_fuzz", text_lines)
    write_corpus("meta_parser_fuzz", meta_lines)
    write_corpus("binary_parser_fuzz", requests)
    write_corpus("connection_fuzz", connection)


if __name__ == "__main__":
    main()
