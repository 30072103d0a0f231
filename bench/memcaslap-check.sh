#!/usr/bin/env bash
# memcaslap-check.sh: one workload through Debian's memcaslap (libmemcached-tools), against
# connkit's cache_server and Debian's memcached, so the comparison does not rest on our own
# loadgen alone. A benchmark, never a test.
#
# Usage: bench/memcaslap-check.sh [BUILD_DIR]        (default build/release)
#
# Starts A = cache_server and B = memcached, each with
# "-l 127.0.0.1 -p PORT -t 1 -m 64 -c 4096 -U 0" (plus -u root as root) on a free loopback
# port, then runs ROUNDS rounds in the order A B B A of
#   memcaslap -s 127.0.0.1:PORT -F CONFIG -t ${DURATION}s -T 1 -c $CONCURRENCY -w $WINDOW
# with CONFIG: 32-byte keys, VALUE_SIZE-byte values, 10% set / 90% get (SET_SHARE). Both
# servers and memcaslap run on the same CPU (taskset -c $CPU), so the server's CPU time is
# the scarce resource being compared. The server's CPU time (user + system, every thread,
# from /proc/PID/stat) is read around each run.
#
# Prints every run (memcaslap's TPS, its operation count, server CPU seconds and operations
# per server-CPU-second), the medians, and as the last lines the cache_server/memcached
# ratios of the medians (higher is better for both).
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5]  CONCURRENCY [50]  WINDOW [1k]  VALUE_SIZE [100]  SET_SHARE [0.1]
#   CPU [0]     the taskset CPU list for servers and memcaslap; PIN=0 disables pinning
#   MEMCASLAP [memcaslap or memaslap on PATH]  MEMCACHED [memcached on PATH]
#   CACHE_SERVER [the built example]
# Exit status: 0 on success, 1 if a server or a memcaslap run failed.

set -uo pipefail

die() {
  echo "memcaslap-check: error: $*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$script_dir/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-50}
WINDOW=${WINDOW:-1k}
VALUE_SIZE=${VALUE_SIZE:-100}
SET_SHARE=${SET_SHARE:-0.1}
CPU=${CPU:-0}
PIN=${PIN:-1}

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a whole number of seconds (memcaslap -t)"
[[ $CONCURRENCY =~ ^[1-9][0-9]*$ ]] || die "CONCURRENCY must be a positive integer"
[[ $VALUE_SIZE =~ ^[1-9][0-9]*$ ]] || die "VALUE_SIZE must be a positive integer"
awk -v s="$SET_SHARE" 'BEGIN { exit !(s + 0 >= 0 && s + 0 <= 1) }' || die "SET_SHARE must be between 0 and 1"

set_build_dir "${1:-}"
find_servers
memcaslap=${MEMCASLAP:-$(command -v memcaslap || command -v memaslap)}
[[ -n $memcaslap && -x $memcaslap ]] || die "memcaslap not found (apt-get install libmemcached-tools, or set MEMCASLAP)"

pin=()
if [[ $PIN == 1 ]]; then
  command -v taskset >/dev/null || die "pinning needs taskset (util-linux); PIN=0 runs unpinned"
  pin=(taskset -c "$CPU")
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/memcaslap-check.XXXXXX") || die "mktemp failed"
trap 'stop_servers; rm -rf "$work_dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# memcaslap's configuration: "start_len end_len proportion" per key and value size class,
# "cmd_type proportion" per command (0 = set, 1 = get).
config=$work_dir/memcaslap.cfg
cat >"$config" <<EOF
key
32 32 1
value
$VALUE_SIZE $VALUE_SIZE 1
cmd
0 $SET_SHARE
1 $(awk -v s="$SET_SHARE" 'BEGIN { printf "%g", 1 - s }')
EOF

read -r port_a port_b <<<"$(free_ports 2)"
[[ -n ${port_a:-} && -n ${port_b:-} ]] || die "could not find two free ports"
server_flags=(-l 127.0.0.1 -t 1 -m 64 -c 4096 -U 0 "${user_args[@]}")
start_background cache_server "$port_a" "${pin[@]}" "$cache_server" "${server_flags[@]}" -p "$port_a"
pid_a=$started_pid
start_background memcached "$port_b" "${pin[@]}" "$memcached" "${server_flags[@]}" -p "$port_b"
pid_b=$started_pid
wait_ready cache_server "$pid_a" "$port_a"
wait_ready memcached "$pid_b" "$port_b"

echo "memcaslap-check: A cache_server = $cache_server ${server_flags[*]} -p $port_a"
echo "memcaslap-check: B memcached    = $memcached ${server_flags[*]} -p $port_b ($("$memcached" -V 2>/dev/null))"
echo "memcaslap-check: $ROUNDS round(s) of A B B A; each run: $memcaslap -F CONFIG -t ${DURATION}s -T 1" \
  "-c $CONCURRENCY -w $WINDOW (32-byte keys, $VALUE_SIZE-byte values, set share $SET_SHARE);" \
  "$([[ $PIN == 1 ]] && echo "servers and memcaslap on CPU $CPU" || echo "not pinned")"

# One run against server $1 (pid $2, port $3) in round $4: prints it and appends to the
# arrays tps_<name> and eff_<name>.
measure() {
  local name=$1 pid=$2 port=$3 round=$4 out before after tps ops cpu eff
  before=$(cpu_ticks "$pid") || die "$name died before the run"
  out=$(timeout $((DURATION + 60)) "${pin[@]}" "$memcaslap" -s "127.0.0.1:$port" -F "$config" \
    -t "${DURATION}s" -T 1 -c "$CONCURRENCY" -w "$WINDOW" 2>&1) ||
    { echo "$out" >&2; die "memcaslap against $name failed"; }
  after=$(cpu_ticks "$pid") || die "$name died during the run"
  # The summary line: "Run time: 5.0s Ops: 214212 TPS: 42826 Net_rate: 7.5M/s".
  read -r tps ops < <(sed -n 's/^Run time: .* Ops: *\([0-9]*\) TPS: *\([0-9]*\).*/\2 \1/p' <<<"$out" | tail -n 1)
  [[ -n ${tps:-} && -n ${ops:-} ]] || { echo "$out" >&2; die "no 'Run time: ... TPS:' line from memcaslap against $name"; }
  cpu=$(awk -v t=$((after - before)) -v hz="$clock_ticks" 'BEGIN { printf "%.2f", t / hz }')
  eff=$(awk -v n="$ops" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0) ? n / c : 0 }')
  printf 'round %d %-12s ops_per_sec=%-8s ops=%-9s server_cpu_s=%-6s ops_per_cpu_s=%s\n' \
    "$round" "$name" "$tps" "$ops" "$cpu" "$eff"
  eval "tps_$name+=(\"$tps\"); eff_$name+=(\"$eff\")"
}

tps_cache_server=() eff_cache_server=() tps_memcached=() eff_memcached=()
for ((round = 1; round <= ROUNDS; round++)); do
  measure cache_server "$pid_a" "$port_a" "$round"
  measure memcached "$pid_b" "$port_b" "$round"
  measure memcached "$pid_b" "$port_b" "$round"
  measure cache_server "$pid_a" "$port_a" "$round"
done

echo
declare -A med=()
for metric in tps eff; do
  for name in cache_server memcached; do
    eval "values=(\"\${${metric}_${name}[@]}\")"
    med[$metric.$name]=$(median "${values[@]}")
    printf 'median %-12s %-3s %10.0f  (%d runs, spread %s%%)\n' "$name" "$metric" \
      "${med[$metric.$name]}" "${#values[@]}" "$(spread_percent "${values[@]}")"
  done
done
echo
awk -v a="${med[tps.cache_server]}" -v b="${med[tps.memcached]}" \
  'BEGIN { printf "cache_server/memcached memcaslap ops/s = %.2f\n", (b > 0) ? a / b : 0 }'
awk -v a="${med[eff.cache_server]}" -v b="${med[eff.memcached]}" \
  'BEGIN { printf "cache_server/memcached memcaslap ops per server-CPU-second = %.2f\n", (b > 0) ? a / b : 0 }'
