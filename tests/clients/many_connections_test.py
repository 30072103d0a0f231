#!/usr/bin/python3
"""15,000 connections open at once, every one served: a fresh server, clients in 3 processes.

    many_connections_test.py [--server "CMD"] [--server-arg ARG]...
                             [--connections 15000] [--processes 3]

Starts the server (see server_fixture.py) with -c (connections + 1000) -t 2, then runs
--processes client processes (this script with --client), each holding its share of the
connections. The steps, each awaited with a deadline (no sleeps as synchronisation):

 1. every client opens all its connections and says so;
 2. this process polls `stats` until curr_connections >= connections (they are all open);
 3. every client sends on each connection `set k<p>_<i> 0 0 N` with a value of its own,
    then `get k<p>_<i>`, and checks the exact reply (STORED, the VALUE block, END);
 4. `stats` again: curr_connections still >= connections (no connection was dropped);
 5. the clients close (SO_LINGER 0: no TIME_WAIT left behind on shared ephemeral ports).

Exits 0 only if every connection got its own correct replies; 77 (ctest: skipped) when
the hard RLIMIT_NOFILE is too low for the server to hold the connections; 1 otherwise.
"""

import argparse
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_fixture  # noqa: E402

SERVER_FD_MARGIN = 100     # the server's own descriptors: listeners, epoll, pipes, stats
CLIENT_FD_MARGIN = 20      # a client's own: stdio, the interpreter's
STEP_SECONDS = 20.0        # limit for one step (connect, serve) of every client


# -- client process ----------------------------------------------------------------------

def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def raise_soft_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def recv_exactly(sock, size, deadline):
    data = b""
    while len(data) < size:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the server after %r" % data[:80])
        data += chunk
    return data


def client(port, process, count):
    """One client process: open `count` connections, then serve them when told to."""
    raise_soft_limit(count + CLIENT_FD_MARGIN)
    deadline = time.monotonic() + STEP_SECONDS
    socks = []
    try:
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port),
                                         timeout=max(0.1, deadline - time.monotonic()))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socks.append(s)
    except OSError as e:
        say("FAIL connect %d of %d: %s" % (len(socks) + 1, count, e))
        return 1
    say("connected %d" % len(socks))

    if sys.stdin.readline().strip() != "go":
        return 1
    deadline = time.monotonic() + STEP_SECONDS
    expected = []
    step, i = "send", 0
    try:
        # Every request is sent before any reply is read, so all connections have one in
        # flight at the same time.
        for i, s in enumerate(socks):
            key = b"k%d_%d" % (process, i)
            value = b"value-%d-%d" % (process, i)
            s.settimeout(max(0.01, deadline - time.monotonic()))
            s.sendall(b"set %s 0 0 %d\r\n%s\r\nget %s\r\n" % (key, len(value), value, key))
            expected.append(b"STORED\r\nVALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(value), value))
        step = "reply"
        for i, s in enumerate(socks):
            got = recv_exactly(s, len(expected[i]), deadline)
            if got != expected[i]:
                say("FAIL connection %d: expected %r, got %r" % (i, expected[i], got))
                return 1
    except OSError as e:  # ConnectionError and socket.timeout are OSErrors
        say("FAIL connection %d (%s): %s" % (i, step, e))
        return 1
    say("served %d" % len(socks))

    sys.stdin.readline()  # "close", or end of input when the parent gives up
    for s in socks:
        s.close()
    return 0


# -- test process ------------------------------------------------------------------------

def stats(sock):
    sock.sendall(b"stats\r\n")
    data = b""
    while not data.endswith(b"END\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the stats connection")
        data += chunk
    fields = (line.split(" ", 2) for line in data.decode().splitlines())
    return {f[1]: f[2] for f in fields if len(f) == 3 and f[0] == "STAT"}


def await_lines(clients, prefix, limit):
    """Read one line from every client; fail unless each starts with `prefix` in time."""
    deadline = time.monotonic() + limit
    pending = {c.stdout.fileno(): c for c in clients}
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("%d client(s) did not report '%s' within %.0f s"
                               % (len(pending), prefix, limit))
        ready, _, _ = select.select(list(pending), [], [], left)
        for fd in ready:
            line = pending.pop(fd).stdout.readline().strip()
            if not line.startswith(prefix):
                raise RuntimeError("a client reported: %s" % (line or "<exited>"))


def tell(clients, word):
    for c in clients:
        try:
            c.stdin.write(word + "\n")
            c.stdin.flush()
        except OSError:
            pass


def poll_connections(sock, at_least, limit):
    deadline = time.monotonic() + limit
    while True:
        current = int(stats(sock)["curr_connections"])
        if current >= at_least or time.monotonic() >= deadline:
            return current
        time.sleep(0.02)  # a poll interval, bounded by the deadline above


def run(args):
    total = args.connections
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    needed = total + SERVER_FD_MARGIN
    if hard != resource.RLIM_INFINITY and hard < needed:
        print("SKIP: the hard open-file limit (ulimit -Hn) is %d; the server needs %d descriptors"
              " to hold %d connections (raise the hard limit to run this test)"
              % (hard, needed, total))
        return server_fixture.SKIP

    shares = [total // args.processes + (1 if p < total % args.processes else 0)
              for p in range(args.processes)]
    command = server_fixture.server_command_from(args.server)
    extra = ["-c", str(total + 1000), "-t", "2"] + args.server_arg
    started = time.monotonic()
    with server_fixture.Server(command, extra, name="server") as srv:
        stats_sock = socket.create_connection(srv.address, timeout=10)
        clients = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--client",
                                     str(srv.port), str(p), str(n)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                   for p, n in enumerate(shares)]
        try:
            await_lines(clients, "connected", STEP_SECONDS + 5)
            # At least `total`: the stats connection may count as well.
            open_now = poll_connections(stats_sock, total, 10)
            print("all %d connections open; curr_connections %d (%.1f s)"
                  % (total, open_now, time.monotonic() - started), flush=True)
            if open_now < total:
                print("FAIL: curr_connections %d, expected at least %d" % (open_now, total))
                return 1

            tell(clients, "go")
            await_lines(clients, "served", STEP_SECONDS + 5)
            still_open = int(stats(stats_sock)["curr_connections"])
            print("every connection got its replies; curr_connections %d (%.1f s)"
                  % (still_open, time.monotonic() - started), flush=True)
            if still_open < total:
                print("FAIL: curr_connections fell to %d while every client held its"
                      " connections" % still_open)
                return 1
            tell(clients, "close")
            for c in clients:
                if c.wait(timeout=STEP_SECONDS) != 0:
                    print("FAIL: a client exited with status %d" % c.returncode)
                    return 1
        except RuntimeError as e:
            print("FAIL: %s" % e)
            if not srv.alive():
                print("server output:\n%s" % srv.output())
            return 1
        finally:
            for c in clients:
                if c.poll() is None:
                    c.kill()
                    c.wait()
            stats_sock.close()
    print("ok: %d connections open at once in %d client processes, each served (%.1f s)"
          % (total, args.processes, time.monotonic() - started))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--client"]:
        port, process, count = (int(a) for a in argv[1:4])
        return client(port, process, count)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_fixture.add_server_arguments(parser)
    parser.add_argument("--connections", type=int, default=15000)
    parser.add_argument("--processes", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except server_fixture.ServerStartError as e:
        print("FAIL: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
