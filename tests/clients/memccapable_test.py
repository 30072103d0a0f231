#!/usr/bin/python3
"""Run libmemcached's memccapable (ASCII or binary protocol tests) against a fresh server.

    memccapable_test.py [--binary] [--server "CMD"] [--server-arg ARG]...

Starts the server (see server_fixture.py), runs

    memccapable -h 127.0.0.1 -p PORT -a -t 5 -v      (with --binary: -b instead of -a)

prints its output, and exits 0 only if memccapable exits 0, prints "All tests passed"
and reports every test of the protocol passed.  Exits 77 (SKIP) when memccapable is not
installed.  The server is started with no -B: it must tell binary clients from text ones
by their first byte, as memcached's default (-B auto) does.

memccapable's options: -a ASCII tests only, -b binary only, -t N I/O timeout in
seconds, -v print the failing assertion, -T NAME run one test, -c abort on failure,
-P prompt before each test.  All 27 ASCII tests and all 27 binary tests pass against
memcached 1.6.18, so none is excluded.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_fixture  # noqa: E402

# The ASCII tests of libmemcached 1.1.4's memccapable, all of which must run and pass.
EXPECTED_TESTS = [
    "ascii version", "ascii quit", "ascii verbosity", "ascii set", "ascii set noreply",
    "ascii get", "ascii gets", "ascii mget", "ascii flush", "ascii flush noreply",
    "ascii add", "ascii add noreply", "ascii replace", "ascii replace noreply",
    "ascii cas", "ascii cas noreply", "ascii delete", "ascii delete noreply",
    "ascii incr", "ascii incr noreply", "ascii decr", "ascii decr noreply",
    "ascii append", "ascii append noreply", "ascii prepend", "ascii prepend noreply",
    "ascii stat",
]
# The binary tests, all of which must run and pass.
EXPECTED_BINARY_TESTS = [
    "binary noop", "binary quit", "binary quitq", "binary set", "binary setq", "binary flush",
    "binary flushq", "binary add", "binary addq", "binary replace", "binary replaceq",
    "binary delete", "binary deleteq", "binary get", "binary getq", "binary getk",
    "binary getkq", "binary incr", "binary incrq", "binary decr", "binary decrq",
    "binary version", "binary append", "binary appendq", "binary prepend", "binary prependq",
    "binary stat",
]
# Tests excluded on purpose (none: every test of both protocols passes against real memcached).
EXCLUDED_TESTS = {}


def find_memccapable():
    for name in ("memccapable", "memcapable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description="memccapable -a (or -b) against a fresh server")
    server_fixture.add_server_arguments(parser)
    parser.add_argument("--binary", action="store_true",
                        help="run the binary protocol tests (memccapable -b) instead of ASCII")
    parser.add_argument("--memccapable", default=None, help="path of memccapable")
    parser.add_argument("--io-timeout", type=int, default=5,
                        help="memccapable -t: I/O timeout in seconds (default 5)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="overall limit for memccapable in seconds (default 120)")
    args = parser.parse_args(argv)

    tool = args.memccapable or find_memccapable()
    if not tool:
        print("SKIP: memccapable not installed (Debian package libmemcached-tools)")
        return server_fixture.SKIP

    protocol, flag, expected = (("binary", "-b", EXPECTED_BINARY_TESTS) if args.binary
                                else ("ascii", "-a", EXPECTED_TESTS))
    command = server_fixture.server_command_from(args.server)
    try:
        with server_fixture.Server(command, args.server_arg, name="server") as srv:
            cmd = [tool, "-h", srv.host, "-p", str(srv.port), flag, "-t", str(args.io_timeout),
                   "-v"]
            print("running: %s" % " ".join(cmd), flush=True)
            try:
                # stdout: one line per test, with -v's assertion text after a failed
                # test's name; stderr: "[FAIL]" marks and the summary line.
                run = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, timeout=args.timeout)
                output, code = run.stdout.decode("utf-8", "replace"), run.returncode
                errors = run.stderr.decode("utf-8", "replace")
            except subprocess.TimeoutExpired as e:
                output = (e.stdout or b"").decode("utf-8", "replace")
                errors = (e.stderr or b"").decode("utf-8", "replace")
                errors += "\n(memccapable killed after %.0f s)\n" % args.timeout
                code = None
            alive = srv.alive()
            server_output = srv.output()
    except server_fixture.ServerStartError as e:
        print("FAIL: %s" % e)
        return 1

    # Both streams whole, one after the other (memccapable's stdout is buffered, so the two
    # cannot be interleaved as it wrote them).
    for label, text in (("standard output", output), ("standard error", errors)):
        if text:
            print("--- memccapable's %s:" % label)
            print(text, end="" if text.endswith("\n") else "\n")
    problems = []
    if code != 0:
        problems.append("memccapable exited with %s" % code)
    if "All tests passed" not in output + errors:
        problems.append('no "All tests passed" line')
    passed = set(re.findall(r"(%s [a-z]+(?: [a-z]+)*) +\[pass\]" % protocol, output))
    missing = [t for t in expected if t not in passed and t not in EXCLUDED_TESTS]
    if missing:
        problems.append("not passed: %s" % ", ".join(missing))
    if not alive:
        problems.append("the server died during the run")
    if problems:
        print("FAIL: " + "; ".join(problems))
        if server_output.strip():
            print("server output:\n" + server_output[-4000:])
        return 1
    print("PASS: %d/%d memccapable %s tests passed" % (len(passed), len(expected), protocol))
    return 0


if __name__ == "__main__":
    sys.exit(main())
