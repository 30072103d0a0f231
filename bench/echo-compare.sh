#!/usr/bin/env bash
# echo-compare.sh: throughput of connkit's echo example against the canonical Boost.Asio
# echo server (bench/asio_echo), both driven by the same loadgen. A benchmark, not a test.
#
# Usage: bench/echo-compare.sh [BUILD_DIR]        (default build/release)
#
# Starts A = $BUILD/examples/echo_server/echo_server and B = $BUILD/bench/asio_echo/asio_echo
# on free loopback ports, both with "-l 127.0.0.1 -p PORT -t $SERVER_THREADS", then runs
# ROUNDS rounds in the order A B B A (so drift in machine state hits both alike). Each run is
# an unmeasured PRERUN-second loadgen pass, then the measured loadgen run. Prints every run's
# RESULT line, the median ops/s of each server and, last, "connkit/asio = X.XX".
# Each run also reports the server's CPU time per operation (user + system time of the
# server process, all threads, from /proc/PID/stat, divided by every op loadgen completed
# in that run): it varies far less than ops/s when other work shares the machine.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5]  WARMUP [1]  PRERUN [1]    rounds and seconds per run
#   CONNS [50]  DEPTH [1]  SIZE [32]  LOADGEN_THREADS [1] loadgen -c -d -s -j
#   SERVER_THREADS [1]                                    -t given to both servers
#   ECHO_A, ECHO_B   replace a server's command (the flags above are appended), e.g.
#                    ECHO_A=build/release/bench/asio_echo/asio_echo to compare asio with itself
#   PIN [auto]       1: pin servers to CPU $SERVER_CPU [0] and loadgen to CPU $LOADGEN_CPU [1]
#                    with taskset; 0: no pinning; auto: pin if taskset exists and there are
#                    at least 2 CPUs. Pinning keeps client and server off each other's core.
# Exit status: 0 on success, 1 if a server or a loadgen run failed.

set -uo pipefail

die() {
  echo "echo-compare: error: $*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$script_dir")
build=${1:-build/release}
if [[ ! -d $build && -d $repo_dir/$build ]]; then build=$repo_dir/$build; fi
[[ -d $build ]] || die "build directory '$build' not found (build with: cmake --build --preset release)"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
PRERUN=${PRERUN:-1}
CONNS=${CONNS:-50}
DEPTH=${DEPTH:-1}
SIZE=${SIZE:-32}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-1}
PIN=${PIN:-auto}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
for value in "$DURATION" "$WARMUP" "$PRERUN"; do
  [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "DURATION, WARMUP and PRERUN must be numbers of seconds"
done

loadgen=$build/bench/loadgen/loadgen
[[ -x $loadgen ]] || die "$loadgen not built"
read -r -a cmd_a <<<"${ECHO_A:-$build/examples/echo_server/echo_server}"
read -r -a cmd_b <<<"${ECHO_B:-$build/bench/asio_echo/asio_echo}"
[[ ${#cmd_a[@]} -gt 0 && -x ${cmd_a[0]} ]] || die "server A '${cmd_a[0]:-}' not built (or set ECHO_A)"
[[ ${#cmd_b[@]} -gt 0 && -x ${cmd_b[0]} ]] || die "server B '${cmd_b[0]:-}' not built (or set ECHO_B)"

pin_server=()
pin_loadgen=()
if [[ $PIN == auto ]]; then
  if command -v taskset >/dev/null && (($(nproc) >= 2)); then PIN=1; else PIN=0; fi
fi
if [[ $PIN == 1 ]]; then
  command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
  pin_server=(taskset -c "$SERVER_CPU")
  pin_loadgen=(taskset -c "$LOADGEN_CPU")
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/echo-compare.XXXXXX") || die "mktemp failed"
# shellcheck source=common.sh
source "$script_dir/common.sh"
trap 'stop_servers; rm -rf "$work_dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts server "$1" on port $2 with command "${@:3}"; sets started_pid.
start_server() {
  local name=$1 port=$2
  shift 2
  start_background "$name" "$port" "${pin_server[@]}" "$@" -l 127.0.0.1 -p "$port" -t "$SERVER_THREADS"
}

# Runs loadgen against port $1: warm-up $2 s, then $3 s measured; its output on stdout.
run_loadgen() {
  local limit
  limit=$(awk -v w="$2" -v t="$3" 'BEGIN { printf "%d", w + t + 30 }')
  timeout "$limit" "${pin_loadgen[@]}" "$loadgen" -h 127.0.0.1 -p "$1" -c "$CONNS" -d "$DEPTH" \
    -s "$SIZE" -j "$LOADGEN_THREADS" -W "$2" -T "$3" 2>&1
}

# One measured run of server $1 (pid $2, port $3) in round $4; appends its ops/s to
# ops_$1 and its CPU microseconds per operation to cpu_$1.
measure() {
  local name=$1 pid=$2 port=$3 round=$4 out result cpu_before cpu_after all_ops cpu_per_op
  out=$(run_loadgen "$port" 0 "$PRERUN") || { echo "$out" >&2; die "pre-run against $name failed"; }
  cpu_before=$(cpu_ticks "$pid") || die "$name died before the run"
  out=$(run_loadgen "$port" "$WARMUP" "$DURATION") || { echo "$out" >&2; die "loadgen against $name failed"; }
  cpu_after=$(cpu_ticks "$pid") || die "$name died during the run"
  result=$(grep '^RESULT ' <<<"$out" | tail -n 1)
  [[ -n $result ]] || { echo "$out" >&2; die "no RESULT line from loadgen against $name"; }
  all_ops=$(sed -n 's/^all ops: *\([0-9]*\).*/\1/p' <<<"$out")
  cpu_per_op=$(awk -v t=$((cpu_after - cpu_before)) -v hz="$clock_ticks" -v n="${all_ops:-0}" \
    'BEGIN { v = (n > 0) ? t * 1e6 / hz / n : 0; printf "%.2f", v }')
  printf 'round %d  %-8s %s cpu_us_per_op=%s\n' "$round" "$name" "$result" "$cpu_per_op"
  local ops=${result#*ops_per_sec=}
  ops=${ops%% *}
  if [[ $name == connkit ]]; then
    ops_connkit+=("$ops")
    cpu_connkit+=("$cpu_per_op")
  else
    ops_asio+=("$ops")
    cpu_asio+=("$cpu_per_op")
  fi
}

# Prints server $1's median $2 of runs "${@:3}" with their range; warns if they spread over 10%.
summarize() {
  local name=$1 med=$2
  shift 2
  printf '%s\n' "$@" | sort -g | awk -v name="$name" -v med="$med" '
    NR == 1 { low = $1 } { high = $1; n = NR }
    END {
      spread = (med > 0) ? (high - low) / med * 100 : 0
      printf "median %-8s %.1f ops/s (%d runs, min %.1f, max %.1f, spread %.0f%%)\n", name ":", med, n, low, high, spread
      if (spread > 10) printf "warning: %s runs spread %.0f%%: the machine was busy; rerun for a trustworthy ratio\n", name, spread
    }'
}

read -r port_a port_b <<<"$(free_ports 2)"
[[ -n ${port_a:-} && -n ${port_b:-} ]] || die "could not find two free ports"

start_server connkit "$port_a" "${cmd_a[@]}"
pid_a=$started_pid
start_server asio "$port_b" "${cmd_b[@]}"
pid_b=$started_pid
wait_ready connkit "$pid_a" "$port_a"
wait_ready asio "$pid_b" "$port_b"

echo "echo-compare: connkit = ${cmd_a[*]} (port $port_a)"
echo "echo-compare: asio    = ${cmd_b[*]} (port $port_b)"
echo "echo-compare: $ROUNDS round(s) of A B B A; each run: ${PRERUN} s pre-run, then loadgen" \
  "-c $CONNS -d $DEPTH -s $SIZE -j $LOADGEN_THREADS -W $WARMUP -T $DURATION;" \
  "$([[ $PIN == 1 ]] && echo "servers on CPU $SERVER_CPU, loadgen on CPU $LOADGEN_CPU" || echo "not pinned")"

ops_connkit=()
ops_asio=()
cpu_connkit=()
cpu_asio=()
for ((round = 1; round <= ROUNDS; round++)); do
  measure connkit "$pid_a" "$port_a" "$round"
  measure asio "$pid_b" "$port_b" "$round"
  measure asio "$pid_b" "$port_b" "$round"
  measure connkit "$pid_a" "$port_a" "$round"
done

median_connkit=$(median "${ops_connkit[@]}")
median_asio=$(median "${ops_asio[@]}")
summarize connkit "$median_connkit" "${ops_connkit[@]}"
summarize asio "$median_asio" "${ops_asio[@]}"
awk -v a="$(median "${cpu_connkit[@]}")" -v b="$(median "${cpu_asio[@]}")" 'BEGIN {
  ratio = (b > 0) ? a / b : 0
  printf "median server CPU per op: connkit %.2f us, asio %.2f us (connkit/asio = %.2f, lower is better)\n", a, b, ratio
}'
awk -v a="$median_connkit" -v b="$median_asio" 'BEGIN { ratio = (b > 0) ? a / b : 0; printf "connkit/asio = %.2f\n", ratio }'
