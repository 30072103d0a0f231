#!/usr/bin/python3
"""Differential test: replay raw command streams against memcached and a server under test.

For every stream file (default: streams/*.txt beside this script except the optional
quirk_*.txt, or the files/globs given on the command line) a fresh memcached (the oracle) and a fresh server under
test are started on free loopback ports, the stream is replayed over a raw TCP
socket to both at the same time, and the two reply transcripts are compared byte
for byte after normalising what legitimately differs between servers:

  * the CAS number of "VALUE <key> <flags> <bytes> <cas>" lines      -> <cas>
  * "c<number>" tokens in meta replies (VA/HD/EN/EX/NS/NF/MN lines)  -> c<cas>
  * positive "t<number>" tokens in meta replies (TTL left; racy)     -> t<ttl>
  * the text after "VERSION "                                       -> <version>

Exit status: 0 when every stream matches, 1 on any difference, 77 (SKIP) when
memcached is not installed, 2 on usage or setup errors.

Stream file format (UTF-8 text, one step per line):

  # comment            ignored, as are blank lines
  > DATA               append DATA to the pending chunk, send the chunk in one write,
                       then read replies until the server has been quiet for the quiet
                       period (default 100 ms) or closes the connection
  + DATA               append DATA to the pending chunk, send nothing yet
                       (pipelining several lines in one write)
  send DATA            append DATA, send the chunk now, do not read
  fill N C             append N copies of the single (escaped) byte C to the pending chunk
  settle               read replies until quiet (after `send`)
  read N               read until N more reply bytes arrived (or closed / 10 s), no quiet wait
  pause MS             sleep MS milliseconds (at most 3000); keep streams time-independent
  quiet MS             quiet period for the following steps (10..2000 ms)
  reconnect            close the connection and open a new one to the same server

"$CAS" in DATA is replaced, at send time, by the last CAS value that server sent on
the connection (from a "VALUE k f n CAS" line or a meta "c<cas>" token), so a stream
can run a successful `cas`/`ms ... C$CAS` against each server's own CAS numbers.

DATA is everything after the first space following the marker, with escapes:
\\r \\n \\t \\\\ \\s (space, for trailing blanks) \\0 and \\xHH (any byte).  A line
"> get a b\\r\\n" sends the 11 bytes 'get a b' CR LF.  Nothing is added implicitly:
a command without \\r\\n is sent without a line end.

When the server closes the connection the transcript records "<closed>" and the
following send steps are skipped until `reconnect`.
"""

import argparse
import glob
import os
import re
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_fixture  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MEMCACHED = "/usr/bin/memcached"
SERVER_ARGS = ["-m", "64", "-t", "2", "-c", "1024"]
STEP_CAP_S = 10.0          # no single step reads longer than this
MAX_SHOW = 600             # bytes of a reply shown in a difference report


# --------------------------------------------------------------------------- parsing
class StreamError(Exception):
    pass


_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", "s": b" ", "0": b"\0"}


def unescape(text, where):
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        if i + 1 >= len(text):
            raise StreamError("%s: dangling backslash" % where)
        nxt = text[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt == "x":
            hexdigits = text[i + 2:i + 4]
            if not re.fullmatch(r"[0-9a-fA-F]{2}", hexdigits):
                raise StreamError("%s: bad \\x escape" % where)
            out.append(int(hexdigits, 16))
            i += 4
        else:
            raise StreamError("%s: unknown escape \\%s" % (where, nxt))
    return bytes(out)


def parse_stream(path):
    """A list of (lineno, op, arg) steps; op in send_settle/append/send/settle/read/..."""
    steps = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.endswith("\r"):
                line = line[:-1]
            where = "%s:%d" % (os.path.basename(path), lineno)
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            marker, _, rest = line.partition(" ")
            if marker == ">":
                steps.append((lineno, "send_settle", unescape(rest, where)))
            elif marker == "+":
                steps.append((lineno, "append", unescape(rest, where)))
            elif marker == "send":
                steps.append((lineno, "send", unescape(rest, where)))
            elif marker == "fill":
                parts = rest.split(" ")
                if len(parts) != 2 or not parts[0].isdigit():
                    raise StreamError("%s: usage: fill N C" % where)
                byte = unescape(parts[1], where)
                if len(byte) != 1:
                    raise StreamError("%s: fill takes exactly one byte" % where)
                steps.append((lineno, "append", byte * int(parts[0])))
            elif marker in ("settle", "reconnect") and not rest.strip():
                steps.append((lineno, marker, None))
            elif marker in ("read", "pause", "quiet"):
                if not rest.strip().isdigit():
                    raise StreamError("%s: %s takes a number" % (where, marker))
                n = int(rest)
                if marker == "pause" and n > 3000:
                    raise StreamError("%s: pause at most 3000 ms" % where)
                if marker == "quiet" and not 10 <= n <= 2000:
                    raise StreamError("%s: quiet must be 10..2000 ms" % where)
                steps.append((lineno, marker, n))
            else:
                raise StreamError("%s: unknown step %r" % (where, marker))
    if any(op == "append" for _, op, _ in steps[-1:]):
        raise StreamError("%s: ends with unsent data" % os.path.basename(path))
    return steps


# --------------------------------------------------------------------------- replay
class Transcript:
    def __init__(self):
        self.replies = []    # (lineno, bytes) per reading step, in order; a close
        self.closed = False  # is recorded in the reply as "<closed>"

    def whole(self):
        return b"".join(r for _, r in self.replies)


class Replayer:
    def __init__(self, address, quiet_ms):
        self.address = address
        self.quiet = quiet_ms / 1000.0
        self.sock = None
        self.transcript = Transcript()
        self.error = None
        self.last_cas = b"0"

    def connect(self):
        self.sock = socket.create_connection(self.address, timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.closed = False
        self.transcript.closed = False
        self.close_marker = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _recv_some(self, timeout):
        """Bytes read within timeout; b'' when nothing arrived; None when closed."""
        if self.closed:
            return None
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return b""
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        except BlockingIOError:
            return b""
        if not data:
            self._mark_closed()
            return None
        return data

    def _mark_closed(self):
        self.closed = True
        self.transcript.closed = True
        self.close_marker = b"<closed>\n"

    def _send(self, data):
        if self.closed:
            return
        view = memoryview(data)
        deadline = time.monotonic() + STEP_CAP_S
        received = bytearray()
        while view:
            try:
                n = self.sock.send(view)
                view = view[n:]
            except BlockingIOError:
                # Server not reading (e.g. it replies while we push a large value):
                # drain replies meanwhile so neither side blocks forever.
                _, writable, _ = select.select([], [self.sock], [], 0.05)
                if not writable:
                    got = self._recv_some(0)
                    if got is None:
                        break
                    received += got
                if time.monotonic() > deadline:
                    raise StreamError("send of %d bytes stalled" % len(data))
            except (BrokenPipeError, ConnectionResetError):
                self._mark_closed()
                break
        return bytes(received)

    def _settle(self):
        buf = bytearray()
        deadline = time.monotonic() + STEP_CAP_S
        while time.monotonic() < deadline:
            got = self._recv_some(self.quiet)
            if not got:      # quiet period passed (b"") or closed (None)
                break
            buf += got
        return bytes(buf)

    def _final_settle(self):
        """Before a reconnect and at the end: wait longer (3 quiet periods) for stragglers."""
        if self.closed:
            return b""
        quiet, self.quiet = self.quiet, self.quiet * 3
        try:
            return self._settle()
        finally:
            self.quiet = quiet

    def _read_n(self, n):
        buf = bytearray()
        deadline = time.monotonic() + STEP_CAP_S
        while len(buf) < n and time.monotonic() < deadline:
            got = self._recv_some(min(0.1, deadline - time.monotonic()))
            if got is None:
                break
            buf += got
        return bytes(buf)

    def _record(self, lineno, data):
        """Store a step's reply; the first one after a close carries the <closed> marker."""
        self.transcript.replies.append((lineno, data + self.close_marker))
        self.close_marker = b""
        found = _CAS_SEEN.findall(data)
        if found:
            self.last_cas = [g for g in found[-1] if g][0]

    def run(self, steps):
        try:
            self.connect()
            pending = bytearray()
            early = b""
            for lineno, op, arg in steps:
                if op == "append":
                    pending += arg
                elif op in ("send", "send_settle"):
                    pending += arg
                    chunk = bytes(pending).replace(b"$CAS", self.last_cas)
                    early += self._send(chunk) or b""
                    pending.clear()
                    if op == "send_settle":
                        self._record(lineno, early + self._settle())
                        early = b""
                elif op == "settle":
                    self._record(lineno, early + self._settle())
                    early = b""
                elif op == "read":
                    self._record(lineno, early + self._read_n(arg - len(early)))
                    early = b""
                elif op == "pause":
                    time.sleep(arg / 1000.0)
                elif op == "quiet":
                    self.quiet = arg / 1000.0
                elif op == "reconnect":
                    # Late replies and a close not yet seen are collected here.
                    tail = early + self._final_settle()
                    self.transcript.replies.append(
                        (lineno, tail + self.close_marker + b"<reconnect>\n"))
                    self.close_marker = b""
                    early = b""
                    self.close()
                    self.connect()
            tail = early + self._final_settle()
            if tail or self.close_marker:
                self._record(steps[-1][0], tail)
        except Exception as e:  # reported by the caller
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self.close()


# --------------------------------------------------------------------------- compare
# The last CAS value a server sent ("VALUE k f n CAS" or a meta c<CAS> token); "$CAS" in
# sent data is replaced by it, so streams can use each server's own CAS values.
_CAS_SEEN = re.compile(rb"(?m)^VALUE [^ \r\n]+ \d+ \d+ (\d+)\r\n"
                       rb"|^(?:VA|HD|EN|EX|NS|NF)(?: [^\r\n]*)? c(\d+)(?=[ \r])")
_VALUE_CAS = re.compile(rb"(?m)^(VALUE [^ \r\n]+ \d+ \d+) \d+(?=\r\n)")
_VERSION = re.compile(rb"(?m)^VERSION [^\r\n]*(?=\r\n)")
_META_LINE = re.compile(rb"(?m)^(?:VA|HD|EN|EX|NS|NF|MN)(?: [^\r\n]*)?(?=\r\n)")
_META_CAS = re.compile(rb"(?<= )c\d+(?= |$)")
_META_TTL = re.compile(rb"(?<= )t[1-9]\d*(?= |$)")


def _normalise_meta(m):
    line = _META_CAS.sub(b"c<cas>", m.group(0))
    return _META_TTL.sub(b"t<ttl>", line)


def normalise(data):
    data = _VALUE_CAS.sub(rb"\1 <cas>", data)
    data = _VERSION.sub(b"VERSION <version>", data)
    return _META_LINE.sub(_normalise_meta, data)


def show(data):
    text = data[:MAX_SHOW].decode("latin-1")
    for marker in ("<closed>", "<reconnect>", "<extra>"):   # harness markers end in \n
        text = text.replace(marker + "\n", marker + " ")
    text = (text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n\n            ")
            .replace("\t", "\\t"))
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\xff]", lambda m: "\\x%02x" % ord(m.group(0)), text)
    if len(data) > MAX_SHOW:
        text += "... (%d bytes in all)" % len(data)
    return text.rstrip() or "<nothing>"


def compare(name, expected, actual, lines):
    """Print the first difference; True when the transcripts match."""
    if normalise(expected.whole()) == normalise(actual.whole()):
        return True
    print("DIFF %s" % name)
    exp_steps = dict()
    for lineno, data in expected.replies:
        exp_steps.setdefault(lineno, bytearray()).extend(data)
    act_steps = dict()
    for lineno, data in actual.replies:
        act_steps.setdefault(lineno, bytearray()).extend(data)
    for lineno in sorted(set(exp_steps) | set(act_steps)):
        e = normalise(bytes(exp_steps.get(lineno, b"")))
        a = normalise(bytes(act_steps.get(lineno, b"")))
        if e != a:
            print("  first differing step, line %d: %s" % (lineno, lines[lineno - 1].rstrip()[:200]))
            print("  expected: %s" % show(e))
            print("  actual:   %s" % show(a))
            break
    else:
        # Same bytes per step but not overall: the replies are split differently
        # (e.g. a close seen at another step).  Show where the whole transcripts part.
        e, a = normalise(expected.whole()), normalise(actual.whole())
        pos = next((i for i in range(min(len(e), len(a))) if e[i] != a[i]), min(len(e), len(a)))
        start = max(0, pos - 80)
        print("  whole transcripts differ at byte %d (%d vs %d bytes)" % (pos, len(e), len(a)))
        print("  expected: %s" % show(e[start:pos + 80]))
        print("  actual:   %s" % show(a[start:pos + 80]))
    print("  expected closed: %s, actual closed: %s" % (expected.closed, actual.closed))
    return False


# --------------------------------------------------------------------------- driver
def replay_pair(steps, oracle_addr, sut_addr, quiet_ms):
    a = Replayer(oracle_addr, quiet_ms)
    b = Replayer(sut_addr, quiet_ms)
    threads = [threading.Thread(target=r.run, args=(steps,)) for r in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return a, b


def perturbed(transcript, which):
    """A copy of transcript with one byte flipped in the middle of its first, middle or
    last non-empty reply (self-check of the harness); (copy, lineno)."""
    copy = Transcript()
    copy.replies = list(transcript.replies)
    copy.closed = transcript.closed
    candidates = [i for i, (_, data) in enumerate(copy.replies)
                  if data and not data.startswith(b"<")]
    if not candidates:
        copy.replies.append((0, b"<extra>\n"))
        return copy, None
    i = {"first": candidates[0], "middle": candidates[len(candidates) // 2],
         "last": candidates[-1]}[which]
    lineno, data = copy.replies[i]
    # From the middle on, the first byte whose change survives normalisation (a flipped
    # CAS digit is, rightly, not a difference).
    for pos in list(range(len(data) // 2, len(data))) + list(range(len(data) // 2)):
        changed = data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]
        if normalise(changed) != normalise(data):
            copy.replies[i] = (lineno, changed)
            break
    return copy, lineno


def stream_files(patterns):
    """The named files/globs; by default streams/*.txt except the optional quirk_*.txt."""
    if not patterns:
        return [f for f in sorted(glob.glob(os.path.join(HERE, "streams", "*.txt")))
                if not os.path.basename(f).startswith("quirk_")]
    files = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matched:
            raise StreamError("no stream files match %s" % pattern)
        files += matched
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Replay command streams against memcached and a server under test.",
        epilog="Stream format: see the module docstring (python3 -m pydoc differential_test).")
    server_fixture.add_server_arguments(parser)
    parser.add_argument("--oracle", default=MEMCACHED,
                        help="the reference server command (default %(default)s)")
    parser.add_argument("--quiet-ms", type=int, default=100,
                        help="a reply has settled after this long without bytes (default 100)")
    parser.add_argument("--perturb", action="store_true",
                        help="harness self-check (run with both servers memcached): each"
                             " stream must match, and flipping one byte of its first, middle"
                             " or last reply must each be reported as a difference")
    parser.add_argument("--dump", action="store_true",
                        help="print the oracle's reply to every step (for writing streams)")
    parser.add_argument("streams", nargs="*",
                        help="stream files or globs (default: streams/*.txt except quirk_*)")
    args = parser.parse_args(argv)

    oracle_cmd = server_fixture.server_command_from(args.oracle)
    if not os.path.exists(oracle_cmd[0]):
        print("SKIP: memcached not installed (%s missing)" % oracle_cmd[0])
        return server_fixture.SKIP
    sut_cmd = server_fixture.server_command_from(args.server)
    try:
        files = stream_files(args.streams)
        parsed = [(path, parse_stream(path)) for path in files]
    except (StreamError, OSError) as e:
        print("error: %s" % e)
        return 2

    print("oracle: %s" % " ".join(oracle_cmd))
    print("server under test: %s" % " ".join(sut_cmd))
    passed = failed = 0
    total_steps = 0
    started = []
    try:
        for path, steps in parsed:
            name = os.path.relpath(path, HERE)
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            oracle = server_fixture.Server(oracle_cmd, SERVER_ARGS + args.server_arg,
                                           name="oracle", quiet=True)
            sut = server_fixture.Server(sut_cmd, SERVER_ARGS + args.server_arg,
                                        name="server", quiet=True)
            started += [oracle, sut]
            oracle.start()
            sut.start()
            t0 = time.monotonic()
            exp_run, act_run = replay_pair(steps, oracle.address, sut.address, args.quiet_ms)
            expected, actual = exp_run.transcript, act_run.transcript
            elapsed = time.monotonic() - t0
            sut_alive = sut.alive()
            oracle.terminate()
            sut.terminate()
            total_steps += len(steps)
            if args.dump:
                for lineno, data in expected.replies:
                    print("%s:%d %s" % (name, lineno, lines[lineno - 1].rstrip()[:120]))
                    print("    -> %s" % show(data).replace("\n            ", "\n       "))
                print("    closed: %s" % expected.closed)
            if exp_run.error or act_run.error:
                print("FAIL %s: replay error: oracle=%s server=%s"
                      % (name, exp_run.error, act_run.error))
                failed += 1
                continue
            if not sut_alive:
                print("FAIL %s: the server under test died; output:\n%s" % (name, sut.output()))
                failed += 1
                continue
            if args.perturb:
                if not compare(name, expected, actual, lines):
                    print("FAIL %s: differs before any perturbation" % name)
                    failed += 1
                    continue
                missed = []
                for which in ("first", "middle", "last"):
                    bad, where = perturbed(expected, which)
                    if compare("%s (%s reply perturbed, line %s)" % (name, which, where),
                               bad, actual, lines):
                        missed.append(which)
                if missed:
                    print("FAIL %s: perturbation NOT detected: %s" % (name, ", ".join(missed)))
                    failed += 1
                else:
                    print("ok   %s: perturbed first, middle and last replies all detected"
                          % name)
                    passed += 1
                continue
            if compare(name, expected, actual, lines):
                print("ok   %s (%d steps, %d reply bytes, %.1f s)"
                      % (name, len(steps), len(expected.whole()), elapsed))
                passed += 1
            else:
                failed += 1
    except server_fixture.ServerStartError as e:
        print("error: %s" % e)
        return 2
    finally:
        for srv in started:
            srv.stop()
    print("%d streams, %d steps" % (len(parsed), total_steps))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
