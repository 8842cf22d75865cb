#!/usr/bin/env bash
# Times `nixcloud-container start` (and stop) with store = "closure" (the
# per-container store view) against store = "all" (one bind of the whole
# store), for the busybox example and for a synthetic system whose closure
# has over 1,000 paths (examples/busybox/many-paths.nix, built offline).
# Prints medians, ratios, the mounts each container has and the memory its
# view takes. Run as root after scripts/setup.sh, with the binary built
# (go build ./cmd/nixcloud-container). Usage: bench/store.sh [RUNS] [PATHS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-11}
npaths=${2:-1000}
bin=$(pwd)/nixcloud-container
ns=ncc-bench-store
dir=$(mktemp -d /var/tmp/ncc-bench.XXXXXX)
chmod 755 "$dir"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
. scripts/netns.sh
# Every command runs in one mount namespace, playing the host's, as on a
# real host (its mount table is counted below: the views must not be in it).
nsexec_in "$ns" sh -c 'echo $$ > "$0"; exec sleep infinity' "$dir/ns.pid" 2>/dev/null &
disown
for _ in $(seq 50); do [ -s "$dir/ns.pid" ] && break; sleep 0.1; done
nspid=$(cat "$dir/ns.pid")
nsexec() { nsenter --mount=/proc/"$nspid"/ns/mnt --net=/run/netns/"$ns" -- "$@"; }
names="bb-closure bb-all many-closure many-all"
trap 'for n in $names; do nsexec "$bin" destroy --force $n >/dev/null 2>&1 || true; done
  nsexec "$bin" host teardown >/dev/null 2>&1 || true
  kill "$nspid" 2>/dev/null || true; ip netns del "$ns"; rm -rf "$dir"' EXIT
export NIXCLOUD_CONTAINER_HOST_CONFIG=$dir/host.toml
printf 'state_dir = "%s/state"\nprofiles_dir = "%s/profiles"\n' "$dir" "$dir" > "$dir/host.toml"
sys=$(pwd)/examples/busybox/system.nix
many=$(pwd)/examples/busybox/many-paths.nix
for store in closure all; do
  printf '{ system = import %s { }; store = "%s"; }\n' "$sys" "$store" > "$dir/bb-$store.nix"
  printf '{ system = import %s { extraPaths = import %s { n = %d; }; }; store = "%s"; }\n' "$sys" "$many" "$npaths" "$store" > "$dir/many-$store.nix"
done
for n in $names; do nsexec "$bin" create "$n" "$dir/$n.nix" 2>/dev/null; done

us() { echo $(( ($2 - $1) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A start stop
for i in $(seq "$runs"); do
  for n in $names; do
    t0=$(date +%s%N); nsexec "$bin" start "$n"; t1=$(date +%s%N)
    nsexec "$bin" stop "$n"; t2=$(date +%s%N)
    start[$n]+="$(us "$t0" "$t1") "; stop[$n]+="$(us "$t1" "$t2") "
  done
done
med() { printf '%s\n' $1 | median; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf 'runs: %d (median, ms); synthetic closure: %s paths\n' "$runs" \
  "$(nix-store -qR "$(nsexec "$bin" list-generations --json many-closure | grep -o '/nix/store/[^"]*' | tail -1)" | wc -l)"
for c in bb many; do
  sc=$(med "${start[$c-closure]}"); sa=$(med "${start[$c-all]}")
  pc=$(med "${stop[$c-closure]}"); pa=$(med "${stop[$c-all]}")
  printf '%-5s start: closure %7.1f  all %7.1f  ratio %s | stop: closure %7.1f  all %7.1f\n' \
    "$c" "$(echo "$sc/1000" | bc -l)" "$(echo "$sa/1000" | bc -l)" "$(ratio "$sc" "$sa")" \
    "$(echo "$pc/1000" | bc -l)" "$(echo "$pa/1000" | bc -l)"
done
# Mounts in each running container, and what its view costs the host.
slab() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
for n in $names; do
  s0=$(slab); nsexec "$bin" start "$n"; s1=$(slab)
  inside=$(nsexec "$bin" run "$n" -- cat /proc/self/mountinfo | wc -l)
  view=$dir/state/store/$n
  host=$(nsexec awk -v v="$view" 'index($5, v) == 1' /proc/self/mountinfo | wc -l)
  # The view lives in the namespace of the container's LXC monitor
  # (init's parent).
  init=$(nsexec lxc-info -P "$dir/state/containers" -n "$n" -pH)
  mon=$(ps -o ppid= "$init" | tr -d ' ')
  own=$(awk -v v="$view" 'index($5, v) == 1' /proc/"$mon"/mountinfo | wc -l)
  used=$(nsenter -t "$mon" -m df -k --output=used "$view" 2>/dev/null | tail -1 || echo 0)
  printf '%-13s mounts inside %5d  view mounts on host %5d, in its namespace %5d  view tmpfs %s KiB  slab +%d KiB (rough)\n' \
    "$n" "$inside" "$host" "$own" "${used// /}" $(( s1 - s0 ))
  nsexec "$bin" stop "$n"
done
