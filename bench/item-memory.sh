#!/usr/bin/env bash
# Memory per stored item: connkit's cache_server against Debian's memcached (a benchmark,
# never a test).
#
# Usage: bench/item-memory.sh [CACHE_SERVER] [MEMCACHED]
#   CACHE_SERVER  default build/release/examples/cache_server/cache_server
#   MEMCACHED     default /usr/bin/memcached
# Environment: ITEMS (1000000), VALUE_SIZE (100), BATCH (1000 sets per write).
#
# Starts each server with `-m 1024 -t 4` on a free loopback port, reads its VmRSS, loads
# ITEMS items ("key:%07d", VALUE_SIZE-byte values) over one connection with pipelined
# `set ... noreply`, waits for a `version` round trip (so every set has been applied), then
# reads VmRSS and `stats` again. Prints per server: RSS before/after, the RSS growth per
# item, `bytes` per item and `curr_items`; the last two lines are the cache_server/memcached
# ratios of RSS growth per item and of `bytes` per item.
set -euo pipefail

CACHE_SERVER=${1:-build/release/examples/cache_server/cache_server}
MEMCACHED=${2:-/usr/bin/memcached}
ITEMS=${ITEMS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-100}
BATCH=${BATCH:-1000}

for bin in "$CACHE_SERVER" "$MEMCACHED"; do
  if [[ ! -x $bin ]]; then
    echo "item-memory.sh: $bin is not an executable (build it: cmake --build --preset release --target cache_server)" >&2
    exit 2
  fi
done

# Both servers refuse to run as root unless told which user to be.
USER_ARGS=()
if [[ $(id -u) -eq 0 ]]; then USER_ARGS=(-u root); fi

SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# The client side: `wait PORT`, `load PORT ITEMS VALUE_SIZE BATCH`, `stats PORT` (prints
# "bytes curr_items" once memcached's hash table is no longer being expanded).
client() {
  python3 - "$@" <<'PY'
import socket
import sys
import time


def connect(port, deadline=10.0):
    end = time.monotonic() + deadline
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            if time.monotonic() > end:
                sys.exit(f"item-memory.sh: nothing listens on port {port}")
            time.sleep(0.05)


def read_until(s, terminator):
    data = b""
    while not data.endswith(terminator):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("item-memory.sh: the server closed the connection")
        data += chunk
    return data


def version(s):
    s.sendall(b"version\r\n")
    line = read_until(s, b"\r\n")
    if not line.startswith(b"VERSION "):
        sys.exit(f"item-memory.sh: unexpected reply {line[:80]!r}")


def stats(s):
    s.sendall(b"stats\r\n")
    text = read_until(s, b"END\r\n").decode()
    return {f[1]: f[2] for f in (l.split(" ", 2) for l in text.splitlines()) if len(f) == 3 and f[0] == "STAT"}


command, port = sys.argv[1], int(sys.argv[2])
s = connect(port)
if command == "wait":
    version(s)
elif command == "load":
    items, size, batch = (int(a) for a in sys.argv[3:6])
    value = b"v" * size + b"\r\n"
    header = b" 0 0 %d noreply\r\n" % size
    for first in range(0, items, batch):
        s.sendall(b"".join(b"set key:%07d" % i + header + value for i in range(first, min(first + batch, items))))
    version(s)  # one connection, in order: every set before it has been applied
elif command == "stats":
    end = time.monotonic() + 30
    st = stats(s)
    while st.get("hash_is_expanding", "0") != "0" and time.monotonic() < end:
        time.sleep(0.2)
        st = stats(s)
    print(st["bytes"], st["curr_items"])
PY
}

# measure NAME BINARY: sets BEFORE and AFTER (VmRSS, KiB), BYTES and ITEMS (`stats`) and
# SECONDS (load time). Runs in this shell, so the EXIT trap can always stop the server.
measure() {
  local name=$1 binary=$2 port start stop
  port=$(free_port)
  "$binary" -l 127.0.0.1 -p "$port" -U 0 -m 1024 -t 4 "${USER_ARGS[@]}" >/dev/null 2>&1 &
  SERVER_PID=$!
  client wait "$port"
  BEFORE=$(rss_kib "$SERVER_PID")
  start=$(date +%s.%N)
  client load "$port" "$ITEMS" "$VALUE_SIZE" "$BATCH"
  stop=$(date +%s.%N)
  read -r BYTES ITEMS_HELD < <(client stats "$port")
  AFTER=$(rss_kib "$SERVER_PID")
  SECONDS_TAKEN=$(awk -v a="$start" -v b="$stop" 'BEGIN { printf "%.1f", b - a }')
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  if [[ $ITEMS_HELD -ne $ITEMS ]]; then
    echo "item-memory.sh: warning: $name holds $ITEMS_HELD items, not $ITEMS" >&2
  fi
}

report() {
  local name=$1 before=$2 after=$3 bytes=$4 items=$5 seconds=$6
  awk -v n="$name" -v b="$before" -v a="$after" -v by="$bytes" -v it="$items" -v s="$seconds" 'BEGIN {
    printf "%-13s RSS before %8.1f MiB, after %8.1f MiB; RSS growth per item %6.1f B; stats bytes per item %6.1f B; curr_items %d; load %.1f s\n",
           n ":", b / 1024, a / 1024, (a - b) * 1024 / it, by / it, it, s
  }'
}

echo "items: $ITEMS with $VALUE_SIZE-byte values, keys key:%07d; servers run with -m 1024 -t 4"
measure cache_server "$CACHE_SERVER"
cs=("$BEFORE" "$AFTER" "$BYTES" "$ITEMS_HELD" "$SECONDS_TAKEN")
report cache_server "${cs[@]}"
measure memcached "$MEMCACHED"
mc=("$BEFORE" "$AFTER" "$BYTES" "$ITEMS_HELD" "$SECONDS_TAKEN")
report memcached "${mc[@]}"
awk -v cb="${cs[0]}" -v ca="${cs[1]}" -v ci="${cs[3]}" -v mb="${mc[0]}" -v ma="${mc[1]}" -v mi="${mc[3]}" \
  'BEGIN { printf "cache_server/memcached RSS growth per item = %.2f\n", ((ca - cb) / ci) / ((ma - mb) / mi) }'
awk -v cy="${cs[2]}" -v ci="${cs[3]}" -v my="${mc[2]}" -v mi="${mc[3]}" \
  'BEGIN { printf "cache_server/memcached bytes per item = %.2f\n", (cy / ci) / (my / mi) }'
