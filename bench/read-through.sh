#!/usr/bin/env bash
# read-through.sh: examples/read_through_cache in front of a backend whose every get takes
# DELAY ms (bench/slow_backend), under CONNS clients asking for keys the cache does not have
# yet (a key space of 100 million: nearly every get is a load). A benchmark, never a test.
#
# Usage: bench/read-through.sh [BUILD_DIR]        (default build/release)
#
# Runs, each for DURATION seconds after a PRERUN-second warm-up:
#   direct    loadgen against the slow backend itself (deferred replies, THREADS workers)
#   through   loadgen against read_through_cache -t THREADS -b <backend>
#   blocking  loadgen against the slow backend with --blocking (a handler that sleeps, as
#             the only option was before deferred replies)
# (values of 64 bytes: loadgen checks only values of its own -V size) and prints each RESULT line plus the cache's load counters. The bound for CONNS clients
# with one request each in flight is CONNS * 1000 / DELAY requests a second.
#
# Environment: DELAY [5]  CONNS [50]  THREADS [2]  DURATION [5]  PRERUN [1]
set -uo pipefail

die() {
  echo "read-through: error: $*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$script_dir/common.sh"
set_build_dir "${1:-}"

DELAY=${DELAY:-5}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
DURATION=${DURATION:-5}
PRERUN=${PRERUN:-1}

backend=$build/bench/slow_backend/slow_backend
cache=$build/examples/read_through_cache/read_through_cache
loadgen=$build/bench/loadgen/loadgen
for program in "$backend" "$cache" "$loadgen"; do
  [[ -x $program ]] || die "$program not built (cmake --build --preset release)"
done
user_args=()
if [[ $(id -u) -eq 0 ]]; then user_args=(-u root); fi

work_dir=$(mktemp -d)
trap 'stop_servers; rm -rf "$work_dir"' EXIT
read -r backend_port blocking_port cache_port < <(free_ports 3)

start_background backend "$backend_port" "$backend" -p "$backend_port" -t "$THREADS" -D "$DELAY" -V 64
wait_ready backend "$started_pid" "$backend_port"
start_background blocking "$blocking_port" "$backend" -p "$blocking_port" -t "$THREADS" -D "$DELAY" -V 64 --blocking
wait_ready blocking "$started_pid" "$blocking_port"
start_background cache "$cache_port" "$cache" -l 127.0.0.1 -p "$cache_port" -t "$THREADS" -c 4096 \
  -b "127.0.0.1:$backend_port" "${user_args[@]}"
wait_ready cache "$started_pid" "$cache_port"

run() {
  local label=$1 port=$2 result
  "$loadgen" -m memcache -p "$port" -c "$CONNS" -K 100000000 --set-ratio 0 -W "$PRERUN" -T "$DURATION" \
    >"$work_dir/$label.out" 2>&1 || { cat "$work_dir/$label.out" >&2; die "loadgen against $label failed"; }
  result=$(grep '^RESULT' "$work_dir/$label.out")
  echo "$label $result"
}

echo "# $CONNS clients, one get each in flight, backend $DELAY ms per get, $THREADS threads;" \
  "bound $((CONNS * 1000 / DELAY)) gets/s"
run direct "$backend_port"
run through "$cache_port"
run blocking "$blocking_port"
printf 'stats\r\nquit\r\n' | timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"stats\r\n")
data = b""
while not data.endswith(b"END\r\n"):
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
for line in data.decode().splitlines():
    if line.startswith("STAT load_") or line.startswith("STAT cmd_get") or line.startswith("STAT get_"):
        print("cache", line)
' "$cache_port"
