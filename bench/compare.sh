#!/usr/bin/env bash
# compare.sh: connkit's cache_server against Debian's memcached on the same workloads, in one
# run, as ratios. A benchmark, never a test.
#
# Usage: bench/compare.sh [BUILD_DIR]        (default build/release)
#
# Starts A = $BUILD/examples/cache_server/cache_server and B = memcached, each with
# "-l 127.0.0.1 -p PORT -t $THREADS -m $MEMORY -c 4096 -U 0" on a free loopback port. For
# every workload it runs ROUNDS rounds in the order A B B A; each run is an unmeasured
# PRERUN-second loadgen pass (which also pre-fills the key space) and then the measured
# DURATION-second loadgen run. The server's CPU time (user + system, every thread, from
# /proc/PID/stat) is read around the measured run; efficiency is the operations loadgen
# completed in that run per server-CPU-second.
#
# Workloads (WORKLOADS, default "get90 pipe mget"): 50 connections (CONNS), 100,000 keys of
# 32 bytes, 100-byte values, 10% sets;
#   get90  one request in flight per connection
#   pipe   16 requests in flight per connection
#   mget   one in flight, and every get asks for 10 distinct keys
#
# Binary protocol: PROTOCOL=binary starts both servers with "-B binary" and runs the binary
# workloads instead (default WORKLOADS "bget90 bmget"; loadgen -m memcache-binary):
#   bget90  as get90, in the request shape of memtier_benchmark's memcache_binary protocol:
#           GET and SET (8 bytes of extras), opaque and cas 0, one in flight
#   bmget   as mget, each get sent as 10 GETKQ and a NOOP (libmemcached's multi-get)
#   bpipe   as pipe, in bget90's shape
# PROTOCOL=text (the default) runs only text workloads, PROTOCOL=binary only binary ones:
# a server started with -B binary closes text clients.
#
# Prints every run, then per workload the median of each server and, as the last lines,
#   <workload>: throughput X.XXx  p99 X.XXx  efficiency X.XXx
# (cache_server / memcached; p99 lower is better, the others higher).
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5]  PRERUN [1]   rounds; seconds per measured run and pre-run
#   THREADS [1]  MEMORY [64]  CONNS [50]   servers' -t and -m; loadgen -c
#   SERVER_CPUS [0]  LOADGEN_CPUS [0]      taskset CPU lists; the default puts servers and
#                  loadgen on the same core, so the server's CPU time is the scarce resource
#                  being compared. PIN=0 disables pinning.
#   MEMCACHED [memcached on PATH]  CACHE_SERVER [the built example]
#   A_ARGS, B_ARGS  extra flags appended to A's or B's command line
#   PROTOCOL [text]  text or binary (see above)
# Exit status: 0 on success, 1 if a server or a loadgen run failed.

set -uo pipefail

die() {
  echo "compare: error: $*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$script_dir/common.sh"
set_build_dir "${1:-}"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
PRERUN=${PRERUN:-1}
THREADS=${THREADS:-1}
MEMORY=${MEMORY:-64}
CONNS=${CONNS:-50}
PROTOCOL=${PROTOCOL:-text}
case $PROTOCOL in
  text) WORKLOADS=${WORKLOADS:-get90 pipe mget} ;;
  binary) WORKLOADS=${WORKLOADS:-bget90 bmget} ;;
  *) die "PROTOCOL must be text or binary" ;;
esac
SERVER_CPUS=${SERVER_CPUS:-0}
LOADGEN_CPUS=${LOADGEN_CPUS:-0}
PIN=${PIN:-1}

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
for value in "$DURATION" "$PRERUN"; do
  [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "DURATION and PRERUN must be numbers of seconds"
done

loadgen=$build/bench/loadgen/loadgen
[[ -x $loadgen ]] || die "$loadgen not built"
find_servers

pin_server=()
pin_loadgen=()
if [[ $PIN == 1 ]]; then
  command -v taskset >/dev/null || die "pinning needs taskset (util-linux); PIN=0 runs unpinned"
  pin_server=(taskset -c "$SERVER_CPUS")
  pin_loadgen=(taskset -c "$LOADGEN_CPUS")
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX") || die "mktemp failed"
trap 'stop_servers; rm -rf "$work_dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints loadgen's flags for workload $1 (of the protocol PROTOCOL).
workload_args() {
  local common=(-c "$CONNS" -K 100000 -V 100 --set-ratio 0.1)
  case $PROTOCOL:$1 in
    text:get90) echo "-m memcache ${common[*]} -d 1" ;;
    text:pipe) echo "-m memcache ${common[*]} -d 16" ;;
    text:mget) echo "-m memcache ${common[*]} -d 1 --mget 10" ;;
    binary:bget90) echo "-m memcache-binary ${common[*]} -d 1" ;;
    binary:bpipe) echo "-m memcache-binary ${common[*]} -d 16" ;;
    binary:bmget) echo "-m memcache-binary ${common[*]} -d 1 --mget 10" ;;
    text:*) die "unknown text workload '$1' (get90, pipe, mget; binary ones need PROTOCOL=binary)" ;;
    binary:*) die "unknown binary workload '$1' (bget90, bpipe, bmget)" ;;
  esac
}
for workload in $WORKLOADS; do workload_args "$workload" >/dev/null; done

read -r port_a port_b <<<"$(free_ports 2)"
[[ -n ${port_a:-} && -n ${port_b:-} ]] || die "could not find two free ports"
server_flags=(-l 127.0.0.1 -t "$THREADS" -m "$MEMORY" -c 4096 -U 0 "${user_args[@]}")
if [[ $PROTOCOL == binary ]]; then server_flags+=(-B binary); fi
read -r -a extra_a <<<"${A_ARGS:-}"
read -r -a extra_b <<<"${B_ARGS:-}"
start_background cache_server "$port_a" "${pin_server[@]}" "$cache_server" "${server_flags[@]}" -p "$port_a" "${extra_a[@]}"
pid_a=$started_pid
start_background memcached "$port_b" "${pin_server[@]}" "$memcached" "${server_flags[@]}" -p "$port_b" "${extra_b[@]}"
pid_b=$started_pid
wait_ready cache_server "$pid_a" "$port_a"
wait_ready memcached "$pid_b" "$port_b"

echo "compare: A cache_server = $cache_server ${server_flags[*]} -p $port_a ${extra_a[*]}"
echo "compare: B memcached    = $memcached ${server_flags[*]} -p $port_b ${extra_b[*]} ($("$memcached" -V 2>/dev/null))"
echo "compare: $ROUNDS round(s) of A B B A per workload; each run: ${PRERUN} s pre-run with prefill," \
  "then ${DURATION} s measured; $([[ $PIN == 1 ]] && echo "servers on CPU $SERVER_CPUS, loadgen on CPU $LOADGEN_CPUS" || echo "not pinned")"

# One measured run of server $1 (pid $2, port $3) on workload $4 in round $5: prints it and
# appends to the arrays ops_<w>_<s>, p99_<w>_<s>, eff_<w>_<s>.
measure() {
  local name=$1 pid=$2 port=$3 workload=$4 round=$5 args out result before after all_ops cpu eff limit
  read -r -a args <<<"$(workload_args "$workload")"
  limit=$(awk -v p="$PRERUN" -v d="$DURATION" 'BEGIN { printf "%d", p + d + 60 }')
  out=$(timeout "$limit" "${pin_loadgen[@]}" "$loadgen" -p "$port" "${args[@]}" --prefill -W 0 -T "$PRERUN" 2>&1) ||
    { echo "$out" >&2; die "pre-run against $name failed"; }
  before=$(cpu_ticks "$pid") || die "$name died before the run"
  out=$(timeout "$limit" "${pin_loadgen[@]}" "$loadgen" -p "$port" "${args[@]}" -W 0 -T "$DURATION" 2>&1) ||
    { echo "$out" >&2; die "loadgen against $name failed"; }
  after=$(cpu_ticks "$pid") || die "$name died during the run"
  result=$(grep '^RESULT ' <<<"$out" | tail -n 1)
  [[ -n $result ]] || { echo "$out" >&2; die "no RESULT line from loadgen against $name"; }
  all_ops=$(sed -n 's/^all ops: *\([0-9]*\).*/\1/p' <<<"$out")
  cpu=$(awk -v t=$((after - before)) -v hz="$clock_ticks" 'BEGIN { printf "%.2f", t / hz }')
  eff=$(awk -v n="${all_ops:-0}" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0) ? n / c : 0 }')
  printf 'round %d %-6s %-12s ops_per_sec=%-9s p50_us=%-7s p99_us=%-7s server_cpu_s=%-5s ops_per_cpu_s=%s\n' \
    "$round" "$workload" "$name" "$(result_field ops_per_sec "$result")" "$(result_field p50_us "$result")" \
    "$(result_field p99_us "$result")" "$cpu" "$eff"
  eval "ops_${workload}_$name+=(\"$(result_field ops_per_sec "$result")\")"
  eval "p99_${workload}_$name+=(\"$(result_field p99_us "$result")\")"
  eval "eff_${workload}_$name+=(\"$eff\")"
}

for workload in $WORKLOADS; do
  for name in cache_server memcached; do eval "ops_${workload}_$name=(); p99_${workload}_$name=(); eff_${workload}_$name=()"; done
  for ((round = 1; round <= ROUNDS; round++)); do
    measure cache_server "$pid_a" "$port_a" "$workload" "$round"
    measure memcached "$pid_b" "$port_b" "$workload" "$round"
    measure memcached "$pid_b" "$port_b" "$workload" "$round"
    measure cache_server "$pid_a" "$port_a" "$workload" "$round"
  done
done

echo
summary=()
for workload in $WORKLOADS; do
  declare -A med=()
  for metric in ops p99 eff; do
    for name in cache_server memcached; do
      eval "values=(\"\${${metric}_${workload}_${name}[@]}\")"
      med[$metric.$name]=$(median "${values[@]}")
      printf 'median %-6s %-12s %-4s %12.1f  (%d runs, spread %s%%)\n' "$workload" "$name" "$metric" \
        "${med[$metric.$name]}" "${#values[@]}" "$(spread_percent "${values[@]}")"
    done
  done
  summary+=("$(awk -v w="$workload" -v oa="${med[ops.cache_server]}" -v ob="${med[ops.memcached]}" \
    -v pa="${med[p99.cache_server]}" -v pb="${med[p99.memcached]}" \
    -v ea="${med[eff.cache_server]}" -v eb="${med[eff.memcached]}" 'BEGIN {
      printf "%s: throughput %.2fx  p99 %.2fx  efficiency %.2fx", w, (ob > 0) ? oa / ob : 0,
        (pb > 0) ? pa / pb : 0, (eb > 0) ? ea / eb : 0 }')")
  unset med
done
echo
echo "cache_server / memcached, medians (throughput and efficiency: higher is better; p99: lower is better):"
printf '%s\n' "${summary[@]}"
