#!/usr/bin/env bash
# Scale: N busybox containers with autostart = true, in namespaces of their
# own. Times, one after the other: N creates, N starts (and counts the
# containers that reach the hostonly bridge), list --json (and
# lxc-ls -f) with all running, memory per container (the drop of
# MemAvailable over the starts / N, and the median payload cgroup) and the LXC monitor's
# RSS (against one left by raw lxc-start), N terminates, autostart
# --jobs 1 (serial) and autostart with the default --jobs, N stops, N
# destroys. Prints a report, and ROW| lines for bench/all.sh's table.
# Run as root after scripts/setup.sh and a `go build`.
# Usage: bench/scale.sh [N]   (default 200)
set -euo pipefail
n=${1:-200}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_init scale
names=$(seq -f 's%03g' "$n" | tr '\n' ' ')
for c in $names; do container_file "$c" 'autostart = true;' >/dev/null; done
# The first one sees the whole store: the raw lxc-start of its monitor
# comparison cannot make a store view.
container_file s001 "autostart = true; $all_store" >/dev/null
inns_sh '
  n=$1; shift; names=$*
  each() { local c; for c in $names; do "$@" "$c"; done; }
  total() { local t0 t1; t0=$(now_us); "$@" >/dev/null; t1=$(now_us); awk -v d=$((t1 - t0)) "BEGIN { printf \"%.2f\", d / 1e6 }"; }
  create() { "$bin" create "$1" "$dir/$1.nix" >/dev/null 2>&1; }
  start() { "$bin" start "$1" >/dev/null; }
  terminate() { "$bin" terminate "$1" >/dev/null; }
  stop() { "$bin" stop "$1" >/dev/null; }
  destroy() { "$bin" destroy "$1" >/dev/null; }
  avail() { awk "/^MemAvailable:/ { print \$2 }" /proc/meminfo; }

  tc=$(total each create)
  echo "create x$n: $tc s"
  mem0=$(avail)
  ts=$(total each start)
  echo "start x$n: $ts s"
  mem1=$(avail)
  gw=$(ip -4 -o addr show dev brNC-hostonly | awk "{ split(\$4, a, \"/\"); print a[1]; exit }")
  reach=0
  for c in $names; do
    if "$bin" run "$c" -- ping -c 1 -W 2 "$gw" >/dev/null 2>&1; then reach=$((reach + 1)); fi
  done
  echo "reachable (each pings the hostonly bridge $gw): $reach of $n"
  list=$(for i in 1 2 3 4 5; do ms "$bin" list --json; done | median)
  lxcls=$(for i in 1 2 3; do ms lxc-ls -f -P "$lxcpath"; done | median)
  echo "list --json: $list ms; lxc-ls -f: $lxcls ms"
  per=$(( (mem0 - mem1) / n ))
  payload=$(for c in $names; do payload_mem "$c"; done | median)
  rss=$(for c in $names; do monitor_rss "$c"; done | median)
  anon=$(for c in $names; do monitor_rss "$c" RssAnon; done | median)
  first=${names%% *}
  "$bin" terminate "$first" >/dev/null
  lxc-start -P "$lxcpath" -n "$first"
  lxcrss=$(monitor_rss "$first")
  lxcanon=$(monitor_rss "$first" RssAnon)
  lxc-stop -k -P "$lxcpath" -n "$first"
  echo "memory per container: MemAvailable drop / N $per kB; payload cgroup $payload kB; LXC monitor RSS $rss kB, $anon private (lxc-start: $lxcrss kB, $lxcanon private)"
  each terminate 2>/dev/null || true
  # An older build without --jobs starts one after the other anyway.
  jobs1="--jobs 1"
  "$bin" help autostart 2>/dev/null | grep -q -- --jobs || jobs1=
  serial=$(total "$bin" autostart $jobs1)
  each terminate
  par=$(total "$bin" autostart)
  echo "autostart x$n: --jobs 1 $serial s, default --jobs $par s"
  tstop=$(total each stop)
  echo "stop x$n: $tstop s"
  td=$(total each destroy)
  echo "destroy x$n: $td s"
  echo "ROW|list --json, $n running (ms)|$list|lxc-ls -f $lxcls|$list/$lxcls|<= 100 ms at 200, <= 150 at 500"
  echo "ROW|$n creates + $n starts (s)|$tc + $ts|-||-"
  echo "ROW|autostart of $n (s)|$par|--jobs 1: $serial|$serial/$par|>= 3x faster than serial at 200"
  echo "ROW|LXC monitor RSS (kB)|$rss|lxc-start $lxcrss|$rss/$lxcrss|<= lxc-start"
  echo "ROW|LXC monitor, private RSS (kB)|$anon|lxc-start $lxcanon|$anon/$lxcanon|<= lxc-start"
  echo "ROW|memory per container (kB)|$per|payload cgroup $payload||500 running"
  echo "ROW|containers reachable|$reach of $n|-||all"
' "$n" $names
