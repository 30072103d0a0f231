# common.sh: shell functions shared by the comparison scripts in bench/ (sourced, not run).
# The sourcing script defines `die` and sets work_dir (a scratch directory) before starting
# servers; server_pids collects every started server so `stop_servers` can stop them.

server_pids=()
bench_repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Sets build to the build directory $1 (default build/release), tried as given and then
# from the repository root; dies if neither exists.
set_build_dir() {
  build=${1:-build/release}
  if [[ ! -d $build && -d $bench_repo_dir/$build ]]; then build=$bench_repo_dir/$build; fi
  [[ -d $build ]] || die "build directory '$build' not found (build with: cmake --build --preset release)"
}

# Sets cache_server ($CACHE_SERVER, else the example built in $build) and memcached
# ($MEMCACHED, else memcached on PATH), and user_args (-u root when run as root: both
# servers refuse root otherwise); dies if a server is missing.
find_servers() {
  cache_server=${CACHE_SERVER:-$build/examples/cache_server/cache_server}
  memcached=${MEMCACHED:-$(command -v memcached)}
  [[ -x $cache_server ]] || die "$cache_server not built (cmake --build --preset release --target cache_server)"
  [[ -n $memcached && -x $memcached ]] || die "memcached not found (apt-get install memcached, or set MEMCACHED)"
  user_args=()
  if [[ $(id -u) -eq 0 ]]; then user_args=(-u root); fi
}

# Stops every started server (TERM, then KILL after 5 s).
stop_servers() {
  local pid i
  for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${server_pids[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  server_pids=()
}

# Prints $1 TCP ports that are free on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# True if something accepts TCP connections on 127.0.0.1:$1 (gives up after 1 s).
accepts_connections() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Starts "${@:3}" in the background with its output in $work_dir/$1.log, as server $1 on
# port $2 (the command carries its own address flags); sets started_pid.
start_background() {
  local name=$1
  shift 2
  "$@" >"$work_dir/$name.log" 2>&1 &
  started_pid=$!
  server_pids+=("$started_pid")
}

# Waits up to 10 s until server "$1" (pid $2) accepts connections on port $3.
wait_ready() {
  local name=$1 pid=$2 port=$3 i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { cat "$work_dir/$name.log" >&2; die "$name exited while starting"; }
    accepts_connections "$port" && return 0
    sleep 0.1
  done
  cat "$work_dir/$name.log" >&2
  die "$name did not accept connections on port $port within 10 s"
}

# Prints the CPU time (user + system, in clock ticks, every thread) used so far by process $1.
cpu_ticks() {
  local stat fields
  stat=$(<"/proc/$1/stat") || return 1
  read -r -a fields <<<"${stat##*) }"
  echo $((fields[11] + fields[12]))
}

clock_ticks=$(getconf CLK_TCK 2>/dev/null || echo 100)

# Prints the median of its arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) printf "%.4f\n", v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints the spread (max - min) / median of its arguments in percent.
spread_percent() {
  local med
  med=$(median "$@")
  printf '%s\n' "$@" | sort -g | awk -v med="$med" 'NR == 1 { low = $1 } { high = $1 }
    END { printf "%.0f\n", (med > 0) ? (high - low) / med * 100 : 0 }'
}

# Prints the value of field "$1=" in the line "$2" (loadgen's RESULT line).
result_field() {
  local rest=${2#*"$1"=}
  [[ $rest != "$2" ]] || return 1
  echo "${rest%% *}"
}
