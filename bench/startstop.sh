#!/usr/bin/env bash
# Times `nixcloud-container start` and `stop` against raw `lxc-start` and
# `lxc-stop` on the same busybox container; prints medians and ratios.
# Run as root after scripts/setup.sh. Usage: bench/startstop.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
bin=$(pwd)/nixcloud-container
ns=ncc-bench
dir=$(mktemp -d /var/tmp/ncc-bench.XXXXXX)
chmod 755 "$dir"
# The container's hostonly bridge lives in a namespace of its own.
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
. scripts/netns.sh
nsexec() { nsexec_in "$ns" "$@"; }
trap 'nsexec "$bin" destroy --force bench >/dev/null 2>&1 || true
  nsexec "$bin" host teardown >/dev/null 2>&1 || true
  ip netns del "$ns"; rm -rf "$dir"' EXIT
export NIXCLOUD_CONTAINER_HOST_CONFIG=$dir/host.toml
printf 'state_dir = "%s/state"\nprofiles_dir = "%s/profiles"\n' "$dir" "$dir" > "$dir/host.toml"
lxcpath=$dir/state/containers
nsexec "$bin" create bench examples/busybox/container.nix 2>/dev/null

ms() { echo $(( ($2 - $1) / 1000 )); } # microseconds
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -a ts tp ls lp
for i in $(seq "$runs"); do
  t0=$(date +%s%N); nsexec "$bin" start bench; t1=$(date +%s%N)
  nsexec "$bin" stop bench; t2=$(date +%s%N)
  ts+=("$(ms "$t0" "$t1")"); tp+=("$(ms "$t1" "$t2")")
  t0=$(date +%s%N); nsexec lxc-start -P "$lxcpath" -n bench; t1=$(date +%s%N)
  nsexec lxc-stop -P "$lxcpath" -n bench; t2=$(date +%s%N)
  ls+=("$(ms "$t0" "$t1")"); lp+=("$(ms "$t1" "$t2")")
done
mts=$(printf '%s\n' "${ts[@]}" | median); mls=$(printf '%s\n' "${ls[@]}" | median)
mtp=$(printf '%s\n' "${tp[@]}" | median); mlp=$(printf '%s\n' "${lp[@]}" | median)
printf 'runs: %d (median, ms)\n' "$runs"
printf 'start: nixcloud-container %.1f  lxc-start %.1f  ratio %.2f\n' "$(echo "$mts/1000" | bc -l)" "$(echo "$mls/1000" | bc -l)" "$(echo "$mts/$mls" | bc -l)"
printf 'stop:  nixcloud-container %.1f  lxc-stop  %.1f  ratio %.2f\n' "$(echo "$mtp/1000" | bc -l)" "$(echo "$mlp/1000" | bc -l)" "$(echo "$mtp/$mlp" | bc -l)"
