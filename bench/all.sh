#!/usr/bin/env bash
# Every benchmark of issue 13's table, each in network namespaces of its
# own, printed as one table: the tool against its anchor (medians, ratio)
# and the goal.
#   start, hostonly / hostonly + NAT   vs raw lxc-start of the same config
#   list --json, N running             vs lxc-ls -f
#   N creates + N starts, one after the other (totals)
#   autostart of N, --jobs default     vs autostart --jobs 1 (serial)
#   LXC monitor RSS                    vs the monitor lxc-start leaves
#   memory per running container (MemAvailable drop / N)
#   no-op update                       vs bare nix-instantiate of the generation
# Run as root after scripts/setup.sh, on a quiet machine, after
# `go build -o nixcloud-container ./cmd/nixcloud-container`.
# Usage: bench/all.sh [RUNS [N]]   (defaults: 11 runs, N = 200)
set -euo pipefail
runs=${1:-11}
n=${2:-200}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

# Start and update: one namespace.
(
  bench_init start
  # Against raw lxc-start, the containers see the whole store (a raw
  # lxc-start cannot make a store view); "hc" has the default store view,
  # against "ho".
  inns "$bin" create ho "$(container_file ho "$all_store")" >/dev/null 2>&1
  inns "$bin" create nat "$(container_file nat "network.enableNat = true; $all_store")" >/dev/null 2>&1
  inns "$bin" create hc "$(container_file hc)" >/dev/null 2>&1
  # The bridges, rules and dnsmasq are there for the raw lxc-start too.
  inns "$bin" start ho && inns "$bin" start nat && inns "$bin" start hc
  inns "$bin" terminate ho && inns "$bin" terminate nat && inns "$bin" terminate hc
  inns_sh '
    r=$1
    ho=$(timeit "$r" "$bin" start ho -- "$bin" terminate ho)
    holxc=$(timeit "$r" lxc-start -P "$lxcpath" -n ho -- lxc-stop -k -P "$lxcpath" -n ho)
    nat=$(timeit "$r" "$bin" start nat -- "$bin" terminate nat)
    natlxc=$(timeit "$r" lxc-start -P "$lxcpath" -n nat -- lxc-stop -k -P "$lxcpath" -n nat)
    hc=$(timeit "$r" "$bin" start hc -- "$bin" terminate hc)
    wrapper=$(ls -d "$dir"/state/guest-patches/*/wrapper.nix | head -n 1)
    upd=$(for i in $(seq "$r"); do ms "$bin" update ho; done | median)
    inst=$(for i in $(seq "$r"); do ms nix-instantiate "$wrapper" -A generation --argstr file "$dir/ho.nix" --argstr name ho; done | median)
    echo "start, hostonly (ms)|$ho|lxc-start $holxc|$ho/$holxc|<= 1.25x"
    echo "start, hostonly + NAT (ms)|$nat|lxc-start $natlxc|$nat/$natlxc|<= 1.25x"
    echo "start, hostonly, store view (ms)|$hc|store = all $ho|$hc/$ho|(issue 14) no visible difference"
    echo "no-op update (ms)|$upd|nix-instantiate $inst|$upd/$inst|<= 1.1x"
  ' "$runs" | sed 's/^/ROW|/'
) | tee -a "$rows" | grep -v '^ROW|' || true

# Scale: N containers.
"$here/scale.sh" "$n" | tee -a "$rows" | grep -v '^ROW|' || true

printf '\n%-34s %12s %26s %8s  %s\n' "what" "tool" "anchor" "ratio" "goal"
grep '^ROW|' "$rows" | while IFS='|' read -r _ what tool anchor div goal; do
  r=-
  if [ -n "$div" ]; then r=$(ratio "${div%/*}" "${div#*/}"); fi
  printf '%-34s %12s %26s %8s  %s\n' "$what" "$tool" "$anchor" "$r" "$goal"
done
