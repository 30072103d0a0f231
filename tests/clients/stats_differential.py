#!/usr/bin/python3
"""Stats differential: the stats groups operators' tools read, against memcached 1.6.18.

A fresh memcached (the oracle) and a fresh server under test get the same traffic (a
100-byte and a 3,000-byte value, hits, misses, a delete, an `me`); then, for each group --
`stats`, `stats settings`, `stats slabs`, `stats items`, `stats sizes` -- the set of field
NAMES must equal memcached's, with per-class ids masked ("N:chunk_size", since an item may
fall in another class: the item header differs), except for the names listed below with
the reason each has no meaning in connkit (docs/cache.md, "Stats", keeps the same lists).

With --memcached-tool, Debian's memcached-tool (perl) is run against both servers instead:
`display` must print the same header and one well-formed row per class in use, ids
ascending, with the 100- and 3,000-byte values in different classes; `stats` and `settings`
tables must list every name the server sent; `dump` must give the same add commands for the
same keys and values.

Exit status: 0 pass, 1 fail, 77 (SKIP) when memcached (or, with --memcached-tool,
memcached-tool or perl) is not installed, 2 on setup errors.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_fixture  # noqa: E402

MEMCACHED = "/usr/bin/memcached"
SERVER_ARGS = ["-m", "64", "-t", "2"]
TOOL_PATHS = ["/usr/share/memcached/scripts/memcached-tool", "/usr/bin/memcached-tool"]

# Names memcached prints that connkit does not, by group, each with its reason.
MISSING = {
    "": {
        "libevent": "no libevent: connkit runs on Boost.Asio",
        "response_obj_oom": "no response objects: replies go to each connection's reply list",
        "response_obj_count": "same",
        "response_obj_bytes": "same",
        "reserved_fds": "no descriptors held back",
        "hash_power_level": "per-shard hash tables, not one power-of-two table",
        "hash_bytes": "same",
        "hash_is_expanding": "same",
        "slab_reassign_rescues": "no slab pages to move between classes",
        "slab_reassign_chunk_rescues": "same",
        "slab_reassign_evictions_nomem": "same",
        "slab_reassign_inline_reclaim": "same",
        "slab_reassign_busy_items": "same",
        "slab_reassign_busy_deletes": "same",
        "slab_reassign_running": "same",
        "slabs_moved": "same",
        "slab_global_page_pool": "same",
        "lru_crawler_running": "no crawler thread: the sweep runs inline, never 'running' between requests",
        "lru_crawler_starts": "same",
        "lru_maintainer_juggles": "no LRU maintainer thread",
        "log_worker_dropped": "no log-stream (watch) facility",
        "log_worker_written": "same",
        "log_watcher_skipped": "same",
        "log_watcher_sent": "same",
        "log_watchers": "same",
        "unexpected_napi_ids": "no NAPI ids (-N)",
        "round_robin_fallback": "same",
        "lru_bumps_dropped": "no bump queue",
    },
    "settings": {
        "oldest": "flush_all keeps a CAS mark, not memcached's process-relative time",
        "hashpower_init": "per-shard hash tables",
        "slab_automove_ratio": "no slab pages to move",
        "slab_automove_window": "same",
        "slab_automove_freeratio": "same",
        "lru_crawler_sleep": "the sweep paces itself by shard, not by item",
        "lru_crawler_tocrawl": "same",
        "tail_repair_time": "a referenced tail item is evicted all the same",
        "hash_algorithm": "std::hash, not a choice",
        "hot_lru_pct": "no segmented LRU",
        "warm_lru_pct": "same",
        "hot_max_factor": "same",
        "warm_max_factor": "same",
        "temporary_ttl": "same",
        "watcher_logbuf_size": "no log-stream facility",
        "worker_logbuf_size": "same",
        "read_buf_mem_limit": "connkit's buffer cache has its own bounds",
        "inline_ascii_response": "removed in memcached 1.6 too (always no)",
        "num_napi_ids": "no NAPI ids",
        "memory_file": "no restartable memory file (-e)",
    },
}
# Prefixes of names memcached prints for features not built here (extstore, TLS).
MISSING_PREFIXES = {"settings": ("ext_", "ssl_")}
KEPT_PREFIXED = {"ssl_enabled"}  # printed: "no"
# Names connkit prints that memcached 1.6.18 does not (here) print.
EXTRA = {
    "": {"idle_kicks", "malloc_fails", "read_buf_oom"},  # memcached prints them in other configurations or versions
    "settings": {"max_staged_bytes"},                     # connkit's own bound (docs/cache.md)
}


class Failure(Exception):
    pass


class Conn:
    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=10)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, end):
        while end not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failure("connection closed waiting for %r" % end)
            self.buf += chunk
        at = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:at], self.buf[at:]
        return out

    def line(self, command):
        self.send(command)
        return self.read_until(b"\r\n")

    def stats(self, group):
        self.send(("stats %s\r\n" % group).encode() if group else b"stats\r\n")
        text = self.read_until(b"END\r\n").decode()
        return [l.split(" ")[1] for l in text.split("\r\n") if l.startswith("STAT ")]

    def close(self):
        self.sock.close()


def traffic(conn):
    """The same commands to each server: two classes in use, hits, misses, me."""
    for key, size in (("small", 100), ("large", 3000), ("pre:fix", 10)):
        if conn.line(b"set %s 5 0 %d\r\n%s\r\n" % (key.encode(), size, b"v" * size)) != b"STORED\r\n":
            raise Failure("set %s failed" % key)
    conn.send(b"get small large missing\r\n")
    conn.read_until(b"END\r\n")
    conn.line(b"delete nothing\r\n")
    conn.line(b"me small\r\n")
    conn.line(b"touch small 0\r\n")


def masked(names):
    """Class ids replaced by N: "4:chunk_size" and "items:4:age" -> "N:chunk_size", "items:N:age"."""
    return {re.sub(r"(^|:)\d+:", r"\1N:", n) for n in names}


def compare_names(oracle, ours):
    failures = []
    for group in ("", "settings", "slabs", "items", "sizes"):
        theirs = masked(oracle.stats(group))
        mine = masked(ours.stats(group))
        missing = {n for n in theirs - mine if n not in MISSING.get(group, {}) and not (
            n.startswith(MISSING_PREFIXES.get(group, ())) and n not in KEPT_PREFIXED)}
        extra = mine - theirs - EXTRA.get(group, set())
        label = "stats " + (group or "(general)")
        if missing:
            failures.append("%s: memcached's names not served: %s" % (label, " ".join(sorted(missing))))
        if extra:
            failures.append("%s: names memcached does not have: %s" % (label, " ".join(sorted(extra))))
        print("%s %s: %d names, %d in common" % ("FAIL" if missing or extra else "ok  ", label, len(mine),
                                                  len(mine & theirs)), flush=True)
    return failures


def run_tool(tool, address, mode):
    result = subprocess.run(["perl", tool, "%s:%d" % address, mode], capture_output=True, timeout=60)
    if result.returncode != 0:
        raise Failure("memcached-tool %s exited %d: %s" % (mode, result.returncode, result.stderr.decode()))
    return result.stdout.decode("latin-1")


ROW = re.compile(r"^\s*(\d+)\s+(\d+B|\d+\.\dK)\s+(\d+)s\s+(\d+)\s+(\d+)\s+(yes| no)\s+(\d+)\s+(\d+)\s+(\d+)$")


def check_tool(tool, oracle_address, our_address):
    failures = []
    theirs = run_tool(tool, oracle_address, "display").splitlines()
    mine = run_tool(tool, our_address, "display").splitlines()
    if not mine or mine[0] != theirs[0]:
        failures.append("display: header differs: %r vs %r" % (mine[:1], theirs[:1]))
    rows = [ROW.match(line) for line in mine[1:]]
    if not rows or not all(rows):
        failures.append("display: rows not in memcached-tool's format:\n" + "\n".join(mine))
    else:
        ids = [int(r.group(1)) for r in rows]
        counts = {int(r.group(1)): int(r.group(5)) for r in rows}
        if ids != sorted(ids) or ids[0] < 1 or ids[-1] >= 100:
            failures.append("display: class ids not ascending from 1 below 100: %s" % ids)
        if sum(counts.values()) != 3 or len([c for c in counts.values() if c]) < 2:
            failures.append("display: the three items should show in two classes or more: %s" % counts)
        if any(int(r.group(4)) < 1 for r in rows):
            failures.append("display: a class in use shows no page")
    print("%s memcached-tool display (%d rows)" % ("FAIL" if failures else "ok  ", len(mine) - 1), flush=True)

    for mode, group in (("stats", ""), ("settings", "settings")):
        conn = Conn(our_address)
        sent = set(conn.stats(group))
        conn.close()
        table = run_tool(tool, our_address, mode)
        shown = {line.split()[0] for line in table.splitlines()[1:] if line.strip()}
        ok = table.startswith("#%s:%d" % our_address) and sent <= shown
        if not ok:
            failures.append("%s: the table lacks %s" % (mode, " ".join(sorted(sent - shown))))
        print("%s memcached-tool %s (%d fields)" % ("ok  " if ok else "FAIL", mode, len(shown)), flush=True)

    def records(text):
        lines = text.split("\r\n")
        return sorted(zip(lines[0::2], lines[1::2]))

    dump_theirs = records(run_tool(tool, oracle_address, "dump"))
    dump_mine = records(run_tool(tool, our_address, "dump"))
    ok = dump_mine == dump_theirs and len(dump_mine) == 3
    if not ok:
        failures.append("dump differs:\n ours %r\n memcached %r" % (
            [r[0] for r in dump_mine], [r[0] for r in dump_theirs]))
    print("%s memcached-tool dump (%d items)" % ("ok  " if ok else "FAIL", len(dump_mine)), flush=True)
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_fixture.add_server_arguments(parser)
    parser.add_argument("--memcached-tool", action="store_true",
                        help="run Debian's memcached-tool against both servers instead")
    args = parser.parse_args(argv)
    if not os.access(MEMCACHED, os.X_OK):
        print("SKIP: %s not installed" % MEMCACHED)
        return server_fixture.SKIP
    tool = None
    if args.memcached_tool:
        tool = next((p for p in TOOL_PATHS if os.path.exists(p)), shutil.which("memcached-tool"))
        if tool is None or shutil.which("perl") is None:
            print("SKIP: memcached-tool (Debian's memcached package) or perl not installed")
            return server_fixture.SKIP
    command = server_fixture.server_command_from(args.server)
    try:
        with server_fixture.Server([MEMCACHED], SERVER_ARGS, name="memcached", quiet=True) as oracle, \
                server_fixture.Server(command, SERVER_ARGS + args.server_arg, name="server") as ours:
            conns = [Conn(oracle.address), Conn(ours.address)]
            for c in conns:
                traffic(c)
            if tool:
                failures = check_tool(tool, oracle.address, ours.address)
            else:
                failures = compare_names(*conns)
            for c in conns:
                c.close()
    except server_fixture.ServerStartError as e:
        print("FAIL: %s" % e)
        return 2
    except (Failure, OSError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        return 1
    for f in failures:
        print("FAIL " + f)
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
