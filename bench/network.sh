#!/usr/bin/env bash
# Networking costs, inside a network namespace of its own (ncc-bench-net):
#   - `host setup` on a clean namespace and when everything is there;
#   - `start` of a container with no interface (raw lxc-start of the
#     hostonly container's config with `lxc.net.0.type = empty`), with one
#     (hostonly) and with two (hostonly + internet, enableNat), through the
#     tool and through raw lxc-start of the same config.
# Prints medians in ms. Run as root after scripts/setup.sh.
# Usage: bench/network.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-11}
bin=$(pwd)/nixcloud-container
ns=ncc-bench-net
dir=$(mktemp -d /var/tmp/ncc-bench.XXXXXX)
chmod 755 "$dir"
export NIXCLOUD_CONTAINER_HOST_CONFIG=$dir/host.toml
printf 'state_dir = "%s/state"\nprofiles_dir = "%s/profiles"\n' "$dir" "$dir" > "$dir/host.toml"
lxcpath=$dir/state/containers
. scripts/netns.sh
nsexec() { nsexec_in "$ns" "$@"; }
cleanup() {
  for c in ho nat; do nsexec "$bin" destroy --force "$c" >/dev/null 2>&1 || true; done
  lxc-stop -k -P "$lxcpath" -n none >/dev/null 2>&1 || true
  nsexec "$bin" host teardown >/dev/null 2>&1 || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns"
nsexec ip link set lo up
# An uplink with a default route, as on a real host (the peer end stays
# down-stream in this namespace; nothing leaves it).
nsexec ip link add up0 type veth peer name up1
nsexec ip addr add 192.0.2.2/24 dev up0
nsexec ip link set up0 up
nsexec ip link set up1 up
nsexec ip route add default via 192.0.2.1

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)/1e6}'; }

clean=(); again=()
for i in $(seq "$runs"); do
  nsexec "$bin" host teardown
  t0=$(now); nsexec "$bin" host setup; t1=$(now); nsexec "$bin" host setup; t2=$(now)
  clean+=($((t1 - t0))); again+=($((t2 - t1)))
done
printf 'host setup, clean namespace: %s ms; everything there: %s ms\n' \
  "$(printf '%s\n' "${clean[@]}" | median)" "$(printf '%s\n' "${again[@]}" | median)"

sys=$(pwd)/examples/busybox/system.nix
printf '{ system = import %s { }; }\n' "$sys" > "$dir/ho.nix"
printf '{ system = import %s { }; network.enableNat = true; }\n' "$sys" > "$dir/nat.nix"
nsexec "$bin" create ho "$dir/ho.nix" 2>/dev/null
nsexec "$bin" create nat "$dir/nat.nix" 2>/dev/null
# "none": the hostonly container's configuration without its interface.
nsexec "$bin" start ho && nsexec "$bin" stop ho
mkdir -p "$lxcpath/none"
grep -v '^lxc.net' "$lxcpath/ho/config" | sed "s|$lxcpath/ho/|$lxcpath/none/|; s|^lxc.rootfs.path = .*|lxc.rootfs.path = dir:$lxcpath/ho/rootfs|" > "$lxcpath/none/config"
echo 'lxc.net.0.type = empty' >> "$lxcpath/none/config"

timeit() { # name, start command..., then stop command after --
  local -a out=()
  local start=() stop=() seen=
  for a in "$@"; do if [ "$a" = -- ]; then seen=1; elif [ -n "$seen" ]; then stop+=("$a"); else start+=("$a"); fi; done
  for i in $(seq "$runs"); do
    t0=$(now); nsexec "${start[@]}"; t1=$(now); nsexec "${stop[@]}"
    out+=($((t1 - t0)))
  done
  printf '%s\n' "${out[@]}" | median
}
none=$(timeit lxc-start -P "$lxcpath" -n none -- lxc-stop -k -P "$lxcpath" -n none)
holxc=$(timeit lxc-start -P "$lxcpath" -n ho -- lxc-stop -k -P "$lxcpath" -n ho)
natlxc=$(timeit lxc-start -P "$lxcpath" -n nat -- lxc-stop -k -P "$lxcpath" -n nat)
ho=$(timeit "$bin" start ho -- "$bin" terminate ho)
nat=$(timeit "$bin" start nat -- "$bin" terminate nat)
printf 'start (median of %d, ms):\n' "$runs"
printf '  no interface   lxc-start %s\n' "$none"
printf '  hostonly       lxc-start %s  nixcloud-container %s\n' "$holxc" "$ho"
printf '  hostonly+NAT   lxc-start %s  nixcloud-container %s\n' "$natlxc" "$nat"
