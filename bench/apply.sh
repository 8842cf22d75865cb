#!/usr/bin/env bash
# Times `nixcloud-container apply` of a SPEC with N busybox containers:
# the first run (creates them), a no-op re-run (median of RUNS), against N
# separate no-op `update`s (median of RUNS); then one apply that changes all
# N against N separate `update`s that change each. Containers are not
# started (set AUTOSTART=1 to start them too), so the numbers are the tool's
# and Nix's, not the guests' boot.
# Run as root after scripts/setup.sh, with ./nixcloud-container built
# (go build ./cmd/nixcloud-container). Usage: bench/apply.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
runs=${2:-5}
bin=$(pwd)/nixcloud-container
sys=$(pwd)/examples/busybox/system.nix
ns=ncc-bench-apply
dir=$(mktemp -d /var/tmp/ncc-bench.XXXXXX)
chmod 755 "$dir"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
. scripts/netns.sh
nsexec() { nsexec_in "$ns" "$@"; }
trap 'for i in $(seq "$n"); do nsexec "$bin" destroy --force "c$i" >/dev/null 2>&1 || true; done
  nsexec "$bin" host teardown >/dev/null 2>&1 || true
  ip netns del "$ns"; rm -rf "$dir"' EXIT
export NIXCLOUD_CONTAINER_HOST_CONFIG=$dir/host.toml
printf 'state_dir = "%s/state"\nprofiles_dir = "%s/profiles"\n' "$dir" "$dir" > "$dir/host.toml"
autostart=false
[ "${AUTOSTART:-0}" = 1 ] && autostart=true

# spec MARKER: the SPEC (and one container file per container, for update).
spec() {
  { echo "{"
    for i in $(seq "$n"); do
      printf '  c%d = { system = import %s { marker = "%s-%d"; }; autostart = %s; };\n' "$i" "$sys" "$1" "$i" "$autostart"
      printf '{ system = import %s { marker = "%s-%d"; }; autostart = %s; }\n' "$sys" "$1" "$i" "$autostart" > "$dir/c$i-$1.nix"
    done
    echo "}"; } > "$dir/spec.nix"
}

now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

spec one
t0=$(now); nsexec "$bin" apply "$dir/spec.nix" >/dev/null 2>&1; t1=$(now)
first=$(ms "$t0" "$t1")

declare -a noop upd
for r in $(seq "$runs"); do
  t0=$(now); nsexec "$bin" apply "$dir/spec.nix" >/dev/null 2>&1; t1=$(now)
  noop+=("$(ms "$t0" "$t1")")
  t0=$(now)
  for i in $(seq "$n"); do nsexec "$bin" update "c$i" >/dev/null 2>&1; done
  t1=$(now)
  upd+=("$(ms "$t0" "$t1")")
done

spec two
t0=$(now); nsexec "$bin" apply "$dir/spec.nix" >/dev/null 2>&1; t1=$(now)
changed=$(ms "$t0" "$t1")
spec three
t0=$(now)
for i in $(seq "$n"); do nsexec "$bin" update "c$i" "$dir/c$i-three.nix" >/dev/null 2>&1; done
t1=$(now)
changedUpd=$(ms "$t0" "$t1")

printf 'containers: %d, runs: %d, autostart: %s (ms)\n' "$n" "$runs" "$autostart"
printf 'apply, first run (creates %d):        %s\n' "$n" "$first"
printf 'apply, no-op re-run (median):         %s\n' "$(printf '%s\n' "${noop[@]}" | median)"
printf '%d no-op updates (median):            %s\n' "$n" "$(printf '%s\n' "${upd[@]}" | median)"
printf 'apply changing all %d:                %s\n' "$n" "$changed"
printf '%d updates changing each:             %s\n' "$n" "$changedUpd"
