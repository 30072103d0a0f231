#!/usr/bin/env bash
# plot-connections.sh: throughput of cache_server and memcached against the number of
# connections, as a table and a PNG for docs/performance.md. A benchmark, never a test.
#
# Usage: bench/plot-connections.sh [BUILD_DIR]        (default build/release)
#
# For each connection count in COUNTS (default "1 10 50 200 1000") it runs bench/compare.sh
# on the get90 workload (one request in flight per connection) with that many connections
# and ROUNDS rounds of A B B A (default 1), and takes each server's median ops/s and
# ops per server-CPU-second. Writes OUT.dat (default docs/performance/throughput-vs-connections)
# and, with gnuplot (Debian gnuplot-nox), OUT.png. The other settings of compare.sh
# (DURATION, PRERUN, THREADS, SERVER_CPUS, LOADGEN_CPUS, ...) pass through the environment.
set -uo pipefail

die() {
  echo "plot-connections: error: $*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$script_dir")
build=${1:-build/release}
COUNTS=${COUNTS:-1 10 50 200 1000}
OUT=${OUT:-$repo_dir/docs/performance/throughput-vs-connections}
export ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-3}
command -v gnuplot >/dev/null || die "gnuplot not found (apt-get install gnuplot-nox)"
mkdir -p "$(dirname "$OUT")"

{
  echo "# connections  cache_server_ops_per_s  memcached_ops_per_s  cache_server_ops_per_cpu_s  memcached_ops_per_cpu_s"
  echo "# bench/plot-connections.sh: get90, ROUNDS=$ROUNDS of A B B A, DURATION=$DURATION s, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
} >"$OUT.dat.tmp"
for conns in $COUNTS; do
  out=$(CONNS=$conns WORKLOADS=get90 "$script_dir/compare.sh" "$build") || { echo "$out" >&2; die "compare.sh failed at $conns connections"; }
  value() { awk -v s="$1" -v m="$2" '$1 == "median" && $3 == s && $4 == m { print $5 }' <<<"$out"; }
  row="$conns $(value cache_server ops) $(value memcached ops) $(value cache_server eff) $(value memcached eff)"
  echo "plot-connections: $row"
  echo "$row" >>"$OUT.dat.tmp"
done
mv "$OUT.dat.tmp" "$OUT.dat"

gnuplot <<EOF || die "gnuplot failed"
set terminal pngcairo size 900,540 font ",11"
set output "$OUT.png"
set title "get90 throughput against connections (1 in flight each; server and load generator on one core)"
set xlabel "connections"
set ylabel "operations per second"
set logscale x
set xtics (1, 10, 50, 200, 1000)
set format y "%.0f"
set yrange [0:*]
set key bottom right
set grid
plot "$OUT.dat" using 1:2 with linespoints lw 2 pt 7 title "connkit cache\\\\_server", \
     "$OUT.dat" using 1:3 with linespoints lw 2 pt 5 title "memcached 1.6 (Debian)"
EOF
echo "plot-connections: wrote $OUT.dat and $OUT.png"
