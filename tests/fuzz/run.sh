#!/usr/bin/env bash
# run.sh: runs every fuzz target built in BUILD_DIR for SECONDS each from its seed corpus
# (tests/fuzz/corpus/<target>/), PARALLEL at a time; fails if any target finds a crash, a
# leak, a time-out or runs out of memory. `make fuzz` calls it (docs/fuzzing.md).
#
# Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]       (default 60)
#   PARALLEL [2]  targets run at once (each uses one core)
#   TARGETS [every *_fuzz built]  the targets to run
#
# The repository's corpus is only read: libFuzzer writes new inputs to the first corpus
# directory it is given, here BUILD_DIR/fuzz-work/<target>/corpus, and crash artifacts
# (crash-*, leak-*, timeout-*, oom-*) to BUILD_DIR/fuzz-work/<target>/. Each target's log
# is BUILD_DIR/fuzz-work/<target>/log; a failing target's end is printed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
parallel=${PARALLEL:-2}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: SECONDS must be a positive integer" >&2; exit 2; }
[[ $parallel =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: PARALLEL must be a positive integer" >&2; exit 2; }

bin_dir=$build/tests/fuzz
if [[ -n ${TARGETS:-} ]]; then
  read -r -a targets <<<"$TARGETS"
else
  targets=()
  for path in "$bin_dir"/*_fuzz; do [[ -x $path ]] && targets+=("$(basename "$path")"); done
fi
[[ ${#targets[@]} -gt 0 ]] || { echo "fuzz: no fuzz targets in $bin_dir (cmake --build --preset fuzz)" >&2; exit 1; }
for source in "$here"/*_fuzz.cpp; do
  name=$(basename "$source" .cpp)
  [[ -x $bin_dir/$name ]] || echo "fuzz: $name not built (its parser is not in the tree yet): skipped"
done

# Runs target $1 in the background; sets started_pid.
start_target() {
  local name=$1 work=$build/fuzz-work/$1
  rm -rf "$work"
  mkdir -p "$work/corpus"
  # -timeout: one input taking this long is a hang. -rss_limit_mb: ASan's quarantine keeps
  # freed memory for a while; 2 GiB leaves room for two targets on a 24 GiB machine.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$bin_dir/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "$here/corpus/$name" >"$work/log" 2>&1 &
  started_pid=$!
}

declare -A pid_of=()
failed=()
# Interrupted: stop the targets this script started.
trap 'for pid in "${pid_of[@]}"; do kill "$pid" 2>/dev/null; done; exit 130' INT TERM
# Waits for target $1 and reports it.
finish_target() {
  local name=$1 rc=0 work=$build/fuzz-work/$1 runs
  wait "${pid_of[$name]}" || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
  if [[ $rc -eq 0 ]]; then
    echo "fuzz: $name: ok, ${runs:-?} runs in ${seconds} s, corpus $(find "$work/corpus" -type f | wc -l) new input(s)"
    return
  fi
  failed+=("$name")
  echo "fuzz: $name: FAILED (exit $rc); artifacts:" $(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
  tail -n 60 "$work/log"
}

echo "fuzz: ${targets[*]}: ${seconds} s each, ${parallel} at a time"
running=()
for name in "${targets[@]}"; do
  [[ -x $bin_dir/$name ]] || { echo "fuzz: $bin_dir/$name not built" >&2; exit 1; }
  [[ -d $here/corpus/$name ]] || { echo "fuzz: no seed corpus $here/corpus/$name" >&2; exit 1; }
  if [[ ${#running[@]} -ge $parallel ]]; then
    finish_target "${running[0]}"
    running=("${running[@]:1}")
  fi
  start_target "$name"
  pid_of[$name]=$started_pid
  running+=("$name")
done
for name in "${running[@]}"; do finish_target "$name"; done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: failed: ${failed[*]} (docs/fuzzing.md: minimise with -minimize_crash=1, then add a test)"
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${seconds} s each without a failure"
