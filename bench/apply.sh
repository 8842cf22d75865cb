#!/usr/bin/env bash
# Times `nixcloud-container apply` of a SPEC with N busybox containers:
# the first run (creates them), a no-op re-run (median of RUNS), against N
# separate no-op `update`s (median of RUNS); then one apply that changes all
# N against N separate `update`s that change each. Containers are not
# started (set AUTOSTART=1 to start them too), so the numbers are the tool's
# and Nix's, not the guests' boot. Like the other benchmarks (bench/lib.sh)
# it runs in network namespaces of its own and times inside them, so
# entering a namespace is not counted (once for apply, N times for the
# updates).
# Run as root after scripts/setup.sh, with ./nixcloud-container built
# (go build ./cmd/nixcloud-container). Usage: bench/apply.sh [N] [RUNS]
set -euo pipefail
n=${1:-20}
runs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_init apply
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

spec one
spec_one=$(cat "$dir/spec.nix")
spec two
spec_two=$(cat "$dir/spec.nix")
spec three
spec_three=$(cat "$dir/spec.nix")
inns_sh '
  n=$1 runs=$2 one=$3 two=$4 three=$5
  each_update() { local i; for i in $(seq "$n"); do "$bin" update "c$i" "$@" >/dev/null 2>&1; done; }
  each_update_to() { local i; for i in $(seq "$n"); do "$bin" update "c$i" "$dir/c$i-$1.nix" >/dev/null 2>&1; done; }
  printf "%s\n" "$one" > "$dir/spec.nix"
  first=$(ms "$bin" apply "$dir/spec.nix")
  noop=$(for r in $(seq "$runs"); do ms "$bin" apply "$dir/spec.nix"; done | median)
  upd=$(for r in $(seq "$runs"); do ms each_update; done | median)
  printf "%s\n" "$two" > "$dir/spec.nix"
  changed=$(ms "$bin" apply "$dir/spec.nix")
  changedUpd=$(ms each_update_to three)
  printf "containers: %d, runs: %d (ms)\n" "$n" "$runs"
  printf "apply, first run (creates %d):        %s\n" "$n" "$first"
  printf "apply, no-op re-run (median):         %s\n" "$noop"
  printf "%d no-op updates (median):            %s\n" "$n" "$upd"
  printf "apply changing all %d:                %s\n" "$n" "$changed"
  printf "%d updates changing each:             %s\n" "$n" "$changedUpd"
' "$n" "$runs" "$spec_one" "$spec_two" "$spec_three"
