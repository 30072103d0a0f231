#!/usr/bin/python3
"""pymemcache against a fresh server: the text protocol as a real client library uses it.

    pymemcache_test.py [--server "CMD"] [--server-arg ARG]... [-k SUBSTRING]

Starts the server (see server_fixture.py) with -m 64, runs every check below with
pymemcache's Client (pymemcache.Client is pymemcache.client.base.Client), prints
"ok NAME" or "FAIL NAME: why" for each, and exits 0 only if all pass.  Exits 77
(SKIP) when pymemcache is not installed (Debian package python3-pymemcache).
"""

import argparse
import os
import socket
import sys
import threading
import time
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_fixture  # noqa: E402

try:
    import pymemcache
    from pymemcache.client import base
    from pymemcache.client.base import PooledClient
    from pymemcache.client.hash import HashClient
    from pymemcache.exceptions import (MemcacheClientError, MemcacheIllegalInputError,
                                       MemcacheServerError)
except ImportError:  # pragma: no cover - reported as a skip
    pymemcache = None

MEMORY_MB = 64
ITEM_LIMIT = 1024 * 1024            # memcached's default -I 1m: bounds the whole item
BIG_VALUE = ITEM_LIMIT - 512        # fits, header and key included
POLL_LIMIT_S = 5.0                  # bound for everything that waits on the server's clock

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


class Failure(AssertionError):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def eq(actual, expected, what):
    if actual != expected:
        raise Failure("%s: expected %r, got %r" % (what, _short(expected), _short(actual)))


def _short(v):
    if isinstance(v, (bytes, str)) and len(v) > 80:
        return "%r... (%d long)" % (v[:60], len(v))
    return v


def raises(exc_type, fn, what):
    try:
        fn()
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001 - report the wrong exception type
        raise Failure("%s: expected %s, got %s: %s" % (what, exc_type.__name__,
                                                       type(e).__name__, e))
    raise Failure("%s: expected %s, nothing raised" % (what, exc_type.__name__))


def poll(fn, what, limit=POLL_LIMIT_S):
    """Call fn until it returns true, at most `limit` seconds (bounded, never a blind sleep)."""
    deadline = time.monotonic() + limit
    while True:
        if fn():
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise Failure("%s: still not true after %.1f s" % (what, limit))
        time.sleep(0.05)


class Ctx:
    def __init__(self, address, server_pid):
        self.address = address
        self.server_pid = server_pid
        self._clients = []

    def client(self, **kw):
        kw.setdefault("default_noreply", False)
        kw.setdefault("connect_timeout", 5)
        kw.setdefault("timeout", 10)
        c = base.Client(self.address, **kw)
        self._clients.append(c)
        return c

    def key(self, name):
        return "%s_%s" % (name, uuid.uuid4().hex[:8])

    def raw(self, data, until=b"\r\n", limit=5.0):
        """Send raw bytes on a new connection; return what arrives until `until` or close."""
        with socket.create_connection(self.address, timeout=limit) as s:
            s.sendall(data)
            buf = b""
            deadline = time.monotonic() + limit
            while until not in buf and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            return buf

    def close(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass


class FlagSerde:
    """Keeps the flags the server returns, to check they round-trip."""
    def __init__(self):
        self.seen = {}

    def serialize(self, key, value):
        return value[0], value[1]

    def deserialize(self, key, value, flags):
        self.seen[key] = flags
        return value


# --------------------------------------------------------------------------- checks
@check
def incr_decr(ctx):
    # Runs first, on a fresh server: memcached 1.6.18 parses a stored number of 2**63 or
    # more with safe_strtoull(), which then looks for a '-' with strchr() past the end of
    # the value, into stale slab memory; a leftover '-' there turns "incr" into
    # "CLIENT_ERROR ... non-numeric value".  No value stored before this check has a '-'.
    c = ctx.client()
    k = ctx.key("num")
    eq(c.set(k, b"10"), True, "set")
    eq(c.incr(k, 5), 15, "incr")
    eq(c.incr(k, 0), 15, "incr 0")
    eq(c.decr(k, 3), 12, "decr")
    eq(c.decr(k, 100), 0, "decr below 0 floors at 0")
    eq(c.decr(k, 1), 0, "decr of 0")
    eq(int(c.get(k)), 0, "stored value after floor")
    eq(c.incr(k, 1000), 1000, "incr growing the number")
    eq(c.get(k).strip(), b"1000", "stored value after incr")
    eq(c.incr(ctx.key("nonum"), 1), None, "incr of a missing key")
    eq(c.decr(ctx.key("nonum"), 1), None, "decr of a missing key")
    eq(c.set(k, str(2 ** 64 - 1).encode()), True, "set 2**64-1")
    eq(c.incr(k, 1), 0, "incr wraps at 2**64")
    eq(c.incr(k, 2 ** 64 - 1), 2 ** 64 - 1, "incr by 2**64-1")
    eq(c.incr(k, 2), 1, "incr wraps again")
    eq(c.set(k, b"5"), True, "set 5")
    eq(c.incr(k, 2 ** 64 - 1), 4, "incr by 2**64-1 wraps (5 -> 4)")
    eq(c.decr(k, 2 ** 64 - 1), 0, "decr by 2**64-1 floors at 0")
    raises(MemcacheClientError, lambda: c.incr(k, 2 ** 64), "incr by 2**64 (bad delta)")
    eq(c.set(k, b"abc"), True, "set non-numeric")
    e = raises(MemcacheClientError, lambda: c.incr(k, 1), "incr of a non-numeric value")
    expect("non-numeric" in str(e), "error mentions non-numeric: %s" % e)
    raises(MemcacheClientError, lambda: c.decr(k, 1), "decr of a non-numeric value")
    eq(c.get(k), b"abc", "value unchanged after failed incr")
    eq(c.set(k, b"7"), True, "set 7")
    eq(c.incr(k, 1, noreply=True), None, "incr noreply")
    eq(c.decr(k, 2, noreply=True), None, "decr noreply")
    eq(int(c.get(k)), 6, "value after noreply incr/decr")


@check
def client_classes(ctx):
    expect(pymemcache.Client is base.Client, "pymemcache.Client is base.Client")
    c = pymemcache.Client(ctx.address, default_noreply=False, connect_timeout=5, timeout=10)
    try:
        k = ctx.key("cls")
        eq(c.set(k, b"v"), True, "pymemcache.Client set")
        eq(c.get(k), b"v", "pymemcache.Client get")
        expect(c.version(), "version is not empty")
    finally:
        c.close()


@check
def set_get(ctx):
    c = ctx.client()
    k = ctx.key("sg")
    eq(c.set(k, b"hello"), True, "set")
    eq(c.get(k), b"hello", "get")
    eq(c.set(k, b"again"), True, "set over an existing key")
    eq(c.get(k), b"again", "get after overwrite")
    eq(c.get(ctx.key("missing")), None, "get of a missing key")
    eq(c.get(ctx.key("missing"), default=b"dflt"), b"dflt", "get default")
    eq(c.set(k, b""), True, "set empty value")
    eq(c.get(k), b"", "get empty value")
    serde = FlagSerde()
    fc = ctx.client(serde=serde)
    for flags in (0, 1, 0xFFFF, 0xFFFFFFFF):
        fk = ctx.key("flags")
        eq(fc.set(fk, (b"x", flags)), True, "set with flags %d" % flags)
        eq(fc.get(fk), b"x", "get with flags %d" % flags)
        eq(serde.seen.get(fk), flags, "flags round trip")


@check
def get_many_hundreds(ctx):
    c = ctx.client()
    keys = [ctx.key("many%03d" % i) for i in range(300)]
    values = {k: ("value_%d_" % i).encode() * (i % 7 + 1) for i, k in enumerate(keys)}
    eq(c.set_many(values), [], "set_many failures")
    missing = [ctx.key("nope%02d" % i) for i in range(50)]
    asked = keys[:150] + missing + keys[150:]
    got = c.get_many(asked)
    eq(len(got), len(keys), "get_many result size")
    for k in keys:
        eq(got.get(k), values[k], "get_many value of %s" % k)
    for k in missing:
        expect(k not in got, "missing key %s absent from get_many" % k)
    gm = c.gets_many(keys[:200])
    eq(len(gm), 200, "gets_many result size")
    cas_values = set()
    for k in keys[:200]:
        v, cas = gm[k]
        eq(v, values[k], "gets_many value")
        expect(cas is not None and int(cas) > 0, "gets_many cas is a positive number")
        cas_values.add(cas)
    eq(len(cas_values), 200, "distinct CAS values for distinct items")
    eq(c.get_many([]), {}, "get_many of nothing")
    eq(c.delete_many(keys), True, "delete_many")
    eq(c.get_many(keys), {}, "get_many after delete_many")


@check
def gets_and_cas(ctx):
    c = ctx.client()
    k = ctx.key("cas")
    eq(c.set(k, b"one"), True, "set")
    value, cas = c.gets(k)
    eq(value, b"one", "gets value")
    expect(cas is not None, "gets returns a CAS value")
    eq(c.cas(k, b"two", cas), True, "cas with the matching CAS")
    eq(c.get(k), b"two", "value after cas")
    eq(c.cas(k, b"three", cas), False, "cas with a stale CAS (mismatch)")
    eq(c.get(k), b"two", "value after failed cas")
    value2, cas2 = c.gets(k)
    expect(cas2 != cas, "CAS changes on update")
    eq(c.cas(ctx.key("nocas"), b"x", cas2), None, "cas on a missing key")
    eq(c.gets(ctx.key("nocas")), (None, None), "gets of a missing key")
    eq(c.append(k, b"!"), True, "append")
    eq(c.cas(k, b"four", cas2), False, "cas after another store")
    _, cas3 = c.gets(k)
    eq(c.cas(k, b"five", cas3, noreply=True), True, "cas noreply")
    eq(c.get(k), b"five", "value after cas noreply")


@check
def touch_and_expiry(ctx):
    c = ctx.client()
    k = ctx.key("touch")
    eq(c.set(k, b"t"), True, "set")
    eq(c.touch(k, 100), True, "touch existing")
    eq(c.touch(ctx.key("nokey"), 100), False, "touch missing")
    eq(c.get(k), b"t", "still there after touch")
    eq(c.touch(k, 1), True, "touch to 1 s")
    poll(lambda: c.get(k) is None, "item touched to expire in 1 s expires")
    k2 = ctx.key("exp")
    eq(c.set(k2, b"e", expire=1), True, "set with expire=1")
    poll(lambda: c.get(k2) is None, "item set with expire=1 expires")
    k3 = ctx.key("keep")
    eq(c.set(k3, b"k", expire=1), True, "set with expire=1")
    eq(c.touch(k3, 0), True, "touch to 0 (never expire)")
    k4 = ctx.key("exp2")
    eq(c.set(k4, b"e", expire=1), True, "set another with expire=1")
    poll(lambda: c.get(k4) is None, "the other item expires")
    eq(c.get(k3), b"k", "item touched to 0 does not expire")


@check
def append_prepend(ctx):
    c = ctx.client()
    k = ctx.key("ap")
    eq(c.set(k, b"mid"), True, "set")
    eq(c.append(k, b">>"), True, "append")
    eq(c.prepend(k, b"<<"), True, "prepend")
    eq(c.get(k), b"<<mid>>", "value after append/prepend")
    eq(c.append(ctx.key("none"), b"x"), False, "append to a missing key")
    eq(c.prepend(ctx.key("none"), b"x"), False, "prepend to a missing key")


@check
def add_replace_delete(ctx):
    c = ctx.client()
    k = ctx.key("ard")
    eq(c.add(k, b"first"), True, "add new")
    eq(c.add(k, b"second"), False, "add existing")
    eq(c.get(k), b"first", "value after add")
    eq(c.replace(ctx.key("none"), b"x"), False, "replace missing")
    eq(c.replace(k, b"third"), True, "replace existing")
    eq(c.get(k), b"third", "value after replace")
    eq(c.delete(k), True, "delete existing")
    eq(c.delete(k), False, "delete missing")
    eq(c.get(k), None, "get after delete")
    eq(c.add(k, b"again"), True, "add after delete")


@check
def noreply_storage(ctx):
    c = ctx.client(default_noreply=True)
    k = ctx.key("nr")
    eq(c.set(k, b"a"), True, "set noreply")
    eq(c.add(k, b"zzz"), True, "add noreply (on an existing key: ignored)")
    eq(c.append(k, b"b"), True, "append noreply")
    eq(c.prepend(k, b"c"), True, "prepend noreply")
    eq(c.get(k), b"cab", "value after noreply stores")
    eq(c.replace(k, b"r"), True, "replace noreply")
    eq(c.get(k), b"r", "value after replace noreply")
    eq(c.replace(ctx.key("none"), b"x"), True, "replace noreply on a missing key")
    eq(c.touch(k, 0), True, "touch noreply")
    eq(c.delete(k, noreply=True), True, "delete noreply")
    eq(c.get(k), None, "gone after delete noreply")
    keys = [ctx.key("nrm%02d" % i) for i in range(100)]
    for i, kk in enumerate(keys):          # 100 pipelined noreply sets, then one get_many
        c.set(kk, str(i).encode())
    got = c.get_many(keys)
    eq(len(got), 100, "all pipelined noreply sets stored")
    eq(got[keys[42]], b"42", "value of a pipelined noreply set")
    eq(c.set_many({kk: b"m" for kk in keys}), [], "set_many noreply")
    eq(set(c.get_many(keys).values()), {b"m"}, "values after set_many noreply")


@check
def binary_values(ctx):
    c = ctx.client()
    every_byte = bytes(range(256))
    samples = [every_byte, every_byte * 64, b"\r\n", b"\r\n\r\n", b"END\r\n",
               b"VALUE x 0 1\r\nx\r\nEND\r\n", b"\x00" * 100, b"a\rb\nc\r\n"]
    for i, value in enumerate(samples):
        k = ctx.key("bin%d" % i)
        eq(c.set(k, value), True, "set binary sample %d" % i)
        eq(c.get(k), value, "binary sample %d round trip" % i)
    k = ctx.key("binap")
    eq(c.set(k, b"\r\n"), True, "set CRLF")
    eq(c.append(k, every_byte), True, "append all bytes")
    eq(c.get(k), b"\r\n" + every_byte, "append keeps binary data")


@check
def large_values(ctx):
    c = ctx.client()
    k = ctx.key("big")
    value = bytes((i * 7 + 3) % 256 for i in range(BIG_VALUE))
    eq(c.set(k, value), True, "set of %d bytes" % BIG_VALUE)
    eq(c.get(k), value, "get of %d bytes" % BIG_VALUE)
    eq(c.set(k, b"small"), True, "set small value")
    e = raises(MemcacheServerError, lambda: c.set(k, b"x" * (ITEM_LIMIT + 1)),
               "set of 1 MiB + 1 bytes")
    expect("object too large for cache" in str(e), "server error text: %s" % e)
    eq(c.get(k), None, "the key's old value is gone after the failed oversized set")
    eq(c.set(k, b"after"), True, "connection usable after the oversized set")
    eq(c.get(k), b"after", "get after the oversized set")
    e = raises(MemcacheServerError, lambda: c.set(k, b"y" * (2 * ITEM_LIMIT)),
               "set of 2 MiB")
    expect("object too large" in str(e), "server error text: %s" % e)
    eq(c.get(k), None, "old value gone after the 2 MiB set")


@check
def key_lengths(ctx):
    c = ctx.client()
    k250 = ("k%s" % uuid.uuid4().hex) + "x" * (250 - 33)
    eq(len(k250), 250, "key length")
    eq(c.set(k250, b"250"), True, "set with a 250-byte key")
    eq(c.get(k250), b"250", "get with a 250-byte key")
    eq(c.get_many([k250, ctx.key("other")]), {k250: b"250"}, "get_many with a 250-byte key")
    eq(c.delete(k250), True, "delete with a 250-byte key")
    k251 = k250 + "y"
    raises(MemcacheIllegalInputError, lambda: c.set(k251, b"x"), "pymemcache rejects 251 bytes")
    # pymemcache refuses long keys before sending: check the server itself on raw sockets.
    eq(ctx.raw(b"get " + k251.encode() + b"\r\n"), b"CLIENT_ERROR bad command line format\r\n",
       "server reply to get with a 251-byte key")
    reply = ctx.raw(b"set " + k251.encode() + b" 0 0 1\r\nx\r\n", until=b"\r\nERROR\r\n")
    expect(reply.startswith(b"CLIENT_ERROR"), "server rejects set with a 251-byte key: %r"
           % reply)
    eq(ctx.raw(b"get " + k250.encode() + b"\r\n", until=b"END\r\n"), b"END\r\n",
       "the 251-byte set stored nothing under the 250-byte prefix")


@check
def stats(ctx):
    c = ctx.client()
    s0 = c.stats()
    required = [b"pid", b"uptime", b"curr_connections", b"total_connections", b"cmd_get",
                b"get_hits", b"curr_items", b"bytes", b"limit_maxbytes", b"evictions"]
    missing = [k.decode() for k in required if k not in s0]
    expect(not missing, "stats keys missing: %s" % ", ".join(missing))
    for k in required:
        expect(isinstance(s0[k], int), "stat %s is a number (%r)" % (k.decode(), s0[k]))
    if ctx.server_pid is not None:
        eq(s0[b"pid"], ctx.server_pid, "stats pid is the server's pid")
    eq(s0[b"limit_maxbytes"], MEMORY_MB * 1024 * 1024, "limit_maxbytes for -m %d" % MEMORY_MB)
    expect(s0[b"uptime"] >= 0, "uptime")
    expect(s0[b"curr_connections"] >= 1, "curr_connections counts this client")
    expect(s0[b"total_connections"] >= s0[b"curr_connections"],
           "total_connections >= curr_connections")
    eq(s0[b"evictions"], 0, "no evictions")

    k1, k2 = ctx.key("st1"), ctx.key("st2")
    eq(c.set(k1, b"x" * 100), True, "set")
    eq(c.set(k2, b"y" * 100), True, "set")
    eq(c.get(k1), b"x" * 100, "get hit")
    eq(c.get(ctx.key("stmiss")), None, "get miss")
    s1 = c.stats()
    eq(s1[b"curr_items"] - s0[b"curr_items"], 2, "curr_items grows by the 2 new items")
    expect(s1[b"bytes"] >= s0[b"bytes"] + 200, "bytes grows by at least the 200 value bytes")
    eq(s1[b"cmd_get"] - s0[b"cmd_get"], 2, "cmd_get counts the 2 gets")
    eq(s1[b"get_hits"] - s0[b"get_hits"], 1, "get_hits counts the hit")
    if b"get_misses" in s1:
        eq(s1[b"get_misses"] - s0[b"get_misses"], 1, "get_misses counts the miss")

    before = c.stats()[b"total_connections"]
    other = ctx.client()
    other.version()
    during = c.stats()
    eq(during[b"total_connections"] - before, 1, "total_connections counts a new connection")
    expect(during[b"curr_connections"] >= 2, "curr_connections counts both clients")
    other.close()
    poll(lambda: c.stats()[b"curr_connections"] == during[b"curr_connections"] - 1,
         "curr_connections drops after a client disconnects")


@check
def quit_and_reconnect(ctx):
    c = ctx.client()
    k = ctx.key("quit")
    eq(c.set(k, b"q"), True, "set")
    c.quit()
    eq(c.get(k), b"q", "the client reconnects after quit")


@check
def pooled_and_hash_clients(ctx):
    pool = PooledClient(ctx.address, max_pool_size=4, connect_timeout=5, timeout=10,
                        default_noreply=False)
    hashed = HashClient([ctx.address], connect_timeout=5, timeout=10, default_noreply=False)
    errors = []

    def worker(n):
        try:
            for i in range(50):
                k = "pool_%d_%d_%s" % (n, i, uuid.uuid4().hex[:6])
                if pool.set(k, str(i).encode()) is not True or pool.get(k) != str(i).encode():
                    errors.append("pooled set/get %s" % k)
        except Exception as e:  # noqa: BLE001
            errors.append("%s: %s" % (type(e).__name__, e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    expect(not errors, "PooledClient from 4 threads: %s" % errors[:3])
    k = ctx.key("hash")
    eq(hashed.set(k, b"h"), True, "HashClient set")
    eq(hashed.get(k), b"h", "HashClient get")
    eq(hashed.get_many([k, ctx.key("none")]), {k: b"h"}, "HashClient get_many")
    pool.close()
    hashed.close()


@check
def flush_all(ctx):
    # Runs last: a delayed flush_all also removes items stored in the second it fires.
    c = ctx.client()
    keys = [ctx.key("fl%d" % i) for i in range(3)]
    for k in keys:
        eq(c.set(k, b"f"), True, "set")
    eq(c.flush_all(), True, "flush_all")
    eq(c.get_many(keys), {}, "everything gone after flush_all")
    eq(c.set(keys[0], b"new"), True, "set after flush_all")
    eq(c.get(keys[0]), b"new", "items stored after flush_all are kept")
    eq(c.flush_all(noreply=True), True, "flush_all noreply")
    eq(c.get(keys[0]), None, "gone after flush_all noreply")

    # memcached counts the delay on its coarse one-second clock (oldest_live = now + 2 - 1):
    # "flush_all 2" takes effect when that clock next ticks, 0 to 1 s later.
    k = ctx.key("fldelay")
    eq(c.set(k, b"d"), True, "set")
    eq(c.flush_all(delay=2), True, "flush_all with a delay of 2 s")
    eq(c.get(k), b"d", "item still there right after a delayed flush_all")
    poll(lambda: c.get(k) is None, "item gone after the delayed flush_all")
    # memcached also drops items stored within the second the flush fires: poll until a
    # new item stays.
    k2 = ctx.key("flafter")
    poll(lambda: c.set(k2, b"a") and c.get(k2) == b"a",
         "items stored after the delayed flush are kept")


# --------------------------------------------------------------------------- driver
def main(argv=None):
    parser = argparse.ArgumentParser(description="pymemcache against a fresh server")
    server_fixture.add_server_arguments(parser)
    parser.add_argument("-k", dest="only", default=None,
                        help="run only the checks whose name contains this")
    args = parser.parse_args(argv)
    if pymemcache is None:
        print("SKIP: pymemcache not installed (Debian package python3-pymemcache)")
        return server_fixture.SKIP
    print("pymemcache %s" % getattr(pymemcache, "__version__", "?"))
    command = server_fixture.server_command_from(args.server)
    checks = [fn for fn in CHECKS if not args.only or args.only in fn.__name__]
    passed = failed = 0
    try:
        with server_fixture.Server(command, ["-m", str(MEMORY_MB)] + args.server_arg,
                                   name="server") as srv:
            ctx = Ctx(srv.address, srv.proc.pid)
            for fn in checks:
                t0 = time.monotonic()
                try:
                    fn(ctx)
                    print("ok   %s (%.2f s)" % (fn.__name__, time.monotonic() - t0), flush=True)
                    passed += 1
                except Failure as e:
                    print("FAIL %s: %s" % (fn.__name__, e), flush=True)
                    failed += 1
                except Exception:  # noqa: BLE001 - any error fails this check only
                    print("FAIL %s: unexpected error\n%s" % (fn.__name__, traceback.format_exc()),
                          flush=True)
                    failed += 1
                if not srv.alive():
                    print("FAIL the server died; output:\n%s" % srv.output())
                    failed += 1
                    break
            ctx.close()
    except server_fixture.ServerStartError as e:
        print("FAIL: %s" % e)
        return 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
