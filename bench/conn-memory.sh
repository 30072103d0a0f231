#!/usr/bin/env bash
# conn-memory.sh: server memory per connection, connkit's cache_server against Debian's
# memcached. A benchmark, never a test.
#
# Usage: bench/conn-memory.sh [BUILD_DIR]        (default build/release)
#
# Starts each server in turn with "-l 127.0.0.1 -p PORT -t 1 -c 20000 -U 0" (plus -u root
# when run as root) on a free loopback port and reads its VmRSS from /proc/PID/status
# ("before"). A separate python3 client process (soft RLIMIT_NOFILE raised to the hard
# limit) then opens CONNS connections and waits until `stats` curr_connections counts them:
# RSS again = "idle". Every connection then makes one `set` + `get` round trip (its reply
# checked), so each has been served and its buffers handed back: RSS again = "used". With
# INFLIGHT=1, every connection then sends half of a 100-byte `set` and the client waits
# until `stats` bytes_read shows the server has read all of them: RSS again = "in flight"
# (each connection holds a partly read request).
#
# Prints per server the RSS at each point and the growth over "before" divided by CONNS,
# then as the last lines the ratios cache_server/memcached of bytes per connection (lower
# is better for cache_server; the project's target is <= 0.80 idle).
#
# Environment (defaults in brackets):
#   CONNS [10000]   connections held at once (each server needs CONNS + ~40 descriptors,
#                   and -c 20000 must fit the hard open-file limit, ulimit -Hn)
#   INFLIGHT [0]    1: also measure connections that each hold a partial request
#   MEMCACHED [memcached on PATH]  CACHE_SERVER [the built example]
# Exit status: 0 on success, 1 if a server or the client failed.

set -uo pipefail

die() {
  echo "conn-memory: error: $*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$script_dir/common.sh"

CONNS=${CONNS:-10000}
INFLIGHT=${INFLIGHT:-0}
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer"

set_build_dir "${1:-}"
find_servers

hard_limit=$(ulimit -Hn)
if [[ $hard_limit != unlimited ]] && ((hard_limit < CONNS + 100)); then
  die "the hard open-file limit is $hard_limit; $CONNS connections need about $((CONNS + 100))"
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/conn-memory.XXXXXX") || die "mktemp failed"
client_pid=
stop_client() {
  if [[ -n $client_pid ]]; then
    kill "$client_pid" 2>/dev/null
    wait "$client_pid" 2>/dev/null
    client_pid=
  fi
}
trap 'stop_client; stop_servers; rm -rf "$work_dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The client: holds the connections and answers each command on stdin with one line.
#   open   open CONNS connections, wait until curr_connections >= CONNS  -> "open N"
#   use    set + get on every connection, every reply checked            -> "used N"
#   half   half a set on every connection, wait until bytes_read says the server has it
#                                                                         -> "half N"
# Any failure prints "FAIL why" and exits.
cat >"$work_dir/client.py" <<'PY'
import resource, socket, sys, time

port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
LIMIT = 60.0  # seconds for one step


def fail(why):
    print("FAIL " + why, flush=True)
    sys.exit(1)


def stats(s):
    s.sendall(b"stats\r\n")
    data = b""
    while not data.endswith(b"END\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            fail("the server closed the stats connection")
        data += chunk
    return {f[1]: f[2] for f in (l.split(" ", 2) for l in data.decode().splitlines())
            if len(f) == 3 and f[0] == "STAT"}


def await_stat(s, name, at_least, per_poll=0):
    """Polls `stats` until `name` >= at_least; each poll's own bytes count per_poll more."""
    deadline = time.monotonic() + LIMIT
    polls = 0
    while True:
        polls += 1
        value = int(stats(s)[name]) - polls * per_poll
        if value >= at_least:
            return value
        if time.monotonic() > deadline:
            fail("%s stayed at %d, below %d" % (name, value, at_least))
        time.sleep(0.05)  # poll interval, bounded by the deadline


def recv_exactly(s, size):
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            fail("the server closed a connection")
        data += chunk
    return data


control = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
conns = []
for command in sys.stdin:
    command = command.strip()
    if command == "open":
        base = int(stats(control)["curr_connections"])
        try:
            for _ in range(count):
                conns.append(socket.create_connection(("127.0.0.1", port), timeout=LIMIT))
        except OSError as e:
            fail("connection %d of %d: %s" % (len(conns) + 1, count, e))
        await_stat(control, "curr_connections", base + count)
        print("open %d" % len(conns), flush=True)
    elif command == "use":
        # In batches, so that only a batch's worth of requests is in flight at once.
        for first in range(0, count, 100):
            batch = list(enumerate(conns[first:first + 100], first))
            for i, s in batch:
                s.sendall(b"set c%d 0 0 10\r\n%010d\r\nget c%d\r\n" % (i, i, i))
            for i, s in batch:
                want = b"STORED\r\nVALUE c%d 0 10\r\n%010d\r\nEND\r\n" % (i, i)
                got = recv_exactly(s, len(want))
                if got != want:
                    fail("connection %d: expected %r, got %r" % (i, want, got))
        print("used %d" % len(conns), flush=True)
    elif command == "half":
        # Every `stats` request counts in bytes_read too (the base includes its own).
        base = int(stats(control)["bytes_read"])
        part = b"set h 0 0 100\r\n" + b"h" * 50
        for s in conns:
            s.sendall(part)
        await_stat(control, "bytes_read", base + len(part) * count, len(b"stats\r\n"))
        print("half %d" % len(conns), flush=True)
PY

rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Sends command $1 to the client and checks that its answer starts with $2.
client_step() {
  local reply
  echo "$1" >&"${client[1]}" || die "the client is gone"
  read -r -t 120 reply <&"${client[0]}" || die "no answer from the client to '$1'"
  [[ $reply == "$2"* ]] || die "client: $reply"
}

# measure NAME BINARY: prints one line and sets result_<NAME> to "before idle used [half]" (KiB).
measure() {
  local name=$1 binary=$2 port pid before idle used half=
  port=$(free_ports 1)
  start_background "$name" "$port" "$binary" -l 127.0.0.1 -p "$port" -t 1 -c 20000 -U 0 "${user_args[@]}"
  pid=$started_pid
  wait_ready "$name" "$pid" "$port"
  coproc client { exec python3 "$work_dir/client.py" "$port" "$CONNS"; }
  client_pid=$client_PID
  before=$(rss_kib "$pid")
  client_step open "open "
  idle=$(rss_kib "$pid")
  client_step use "used "
  used=$(rss_kib "$pid")
  if [[ $INFLIGHT == 1 ]]; then
    client_step half "half "
    half=$(rss_kib "$pid")
  fi
  stop_client
  stop_servers
  awk -v n="$name" -v c="$CONNS" -v b="$before" -v i="$idle" -v u="$used" -v h="$half" 'BEGIN {
    printf "%-13s RSS before %7.1f MiB, idle %7.1f MiB, used %7.1f MiB", n ":", b / 1024, i / 1024, u / 1024
    if (h != "") printf ", in flight %7.1f MiB", h / 1024
    printf "; per connection: idle %6.0f B, used %6.0f B", (i - b) * 1024 / c, (u - b) * 1024 / c
    if (h != "") printf ", in flight %6.0f B", (h - b) * 1024 / c
    printf "\n"
  }'
  eval "result_$name=\"$before $idle $used $half\""
}

echo "conn-memory: $CONNS connections; servers run with -t 1 -c 20000 -U 0 ${user_args[*]}; memcached: $("$memcached" -V 2>/dev/null)"
measure cache_server "$cache_server"
measure memcached "$memcached"

read -r -a a <<<"$result_cache_server"
read -r -a b <<<"$result_memcached"
ratio() { # growth of cache_server over growth of memcached, $1 = index of the RSS reading
  awk -v ab="${a[0]}" -v ax="${a[$1]}" -v bb="${b[0]}" -v bx="${b[$1]}" \
    'BEGIN { printf "%.2f", (bx - bb > 0) ? (ax - ab) / (bx - bb) : 0 }'
}
echo "cache_server/memcached bytes per idle connection = $(ratio 1)"
echo "cache_server/memcached bytes per used connection = $(ratio 2)"
if [[ $INFLIGHT == 1 ]]; then
  echo "cache_server/memcached bytes per connection in flight = $(ratio 3)"
fi
