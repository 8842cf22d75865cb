# Sourced inside a benchmark's namespace by inns_sh (bench/lib.sh).
set -euo pipefail
bin=${NCC_BENCH_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/nixcloud-container}
dir=$BENCH_DIR
lxcpath=$BENCH_LXCPATH

now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

# ms CMD...: runs CMD (output discarded) and prints its wall time in ms.
ms() {
  local t0 t1
  t0=$(now_us)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
  t1=$(now_us)
  awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f\n", d / 1000 }'
}

# median: of numbers, one a line.
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else printf "%.1f\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# timeit RUNS START... -- STOP...: the median time of START, STOP run
# (untimed) after each.
timeit() {
  local runs=$1; shift
  local start=() stop=() seen= i
  for a in "$@"; do
    if [ "$a" = -- ]; then seen=1; elif [ -n "$seen" ]; then stop+=("$a"); else start+=("$a"); fi
  done
  for i in $(seq "$runs"); do
    ms "${start[@]}"
    "${stop[@]}" >/dev/null 2>&1 || true
  done | median
}

# monitor_rss NAME [FIELD]: VmRSS (or FIELD of /proc/PID/status, e.g.
# RssAnon: its private part), in kB, of the LXC monitor of container NAME.
monitor_rss() {
  local p
  for p in $(pgrep -f "^\[lxc monitor\] $lxcpath $1\$"); do
    awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$p/status"
    return
  done
}

# payload_mem NAME: memory (kB) charged to the container's payload cgroup
# (cgroup v2 memory.current or v1 memory.usage_in_bytes).
payload_mem() {
  local d f
  for d in $(find /sys/fs/cgroup -maxdepth 4 -type d -name "lxc.payload.$1" 2>/dev/null); do
    for f in "$d/memory.current" "$d/memory.usage_in_bytes"; do
      if [ -r "$f" ]; then
        echo $(($(cat "$f") / 1024))
        return
      fi
    done
  done
}
