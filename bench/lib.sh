# Sourced by the benchmarks (bench/all.sh, bench/scale.sh). Every benchmark
# runs in network namespaces of its own (a "host" with an uplink veth and a
# default route into a second, empty namespace) and a state folder of its
# own under /var/tmp; nothing leaves the namespaces. Timings are taken
# inside the namespace (bash's EPOCHREALTIME), so entering it is not
# counted. Run as root after scripts/setup.sh, from anywhere.
set -euo pipefail
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# NCC_BENCH_BIN: another build to measure (an older one, for a before/after).
bin=${NCC_BENCH_BIN:-$bench_root/nixcloud-container}
# all_store: the setting for a container that sees the whole store (what
# raw lxc-start can start); empty for a build older than the store view
# (NCC_BENCH_ALL_STORE=).
all_store=${NCC_BENCH_ALL_STORE-'store = "all";'}
. "$bench_root/scripts/netns.sh"

# bench_init NAME: a fresh host (folder, host.toml, namespaces), removed
# again on exit with every container in it.
bench_init() {
  ns=ncc-bench-$1
  up=$ns-up
  dir=$(mktemp -d /var/tmp/ncc-bench.XXXXXX)
  chmod 755 "$dir"
  export NIXCLOUD_CONTAINER_HOST_CONFIG=$dir/host.toml
  printf 'state_dir = "%s/state"\nprofiles_dir = "%s/profiles"\n' "$dir" "$dir" > "$dir/host.toml"
  lxcpath=$dir/state/containers
  trap bench_cleanup EXIT
  ip netns add "$ns"
  ip netns add "$up"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add up0 type veth peer name up1 netns "$up"
  ip -n "$ns" addr add 192.0.2.2/24 dev up0
  ip -n "$ns" link set up0 up
  ip -n "$up" addr add 192.0.2.1/24 dev up1
  ip -n "$up" link set up1 up
  ip -n "$ns" route add default via 192.0.2.1
  sys=$bench_root/examples/busybox/system.nix
}

bench_cleanup() {
  set +e
  if [ -d "$lxcpath" ]; then
    for c in "$lxcpath"/*/; do
      c=$(basename "$c")
      [ -f "$lxcpath/$c/container.json" ] || { inns lxc-stop -k -P "$lxcpath" -n "$c" >/dev/null 2>&1; rm -rf "${lxcpath:?}/$c"; continue; }
      inns "$bin" destroy --force "$c" >/dev/null 2>&1
    done
  fi
  inns "$bin" host teardown >/dev/null 2>&1
  ip netns del "$ns" 2>/dev/null
  ip netns del "$up" 2>/dev/null
  rm -rf "$dir"
}

# inns CMD...: CMD in the host namespace (with the cgroup mounts LXC needs).
inns() { nsexec_in "$ns" "$@"; }

# inns_sh SCRIPT ARGS...: a bash script in the host namespace, with the
# helpers of lib-inner.sh (timing, median) and $bin, $dir, $lxcpath.
inns_sh() {
  local script=$1
  shift
  inns env BENCH_DIR="$dir" BENCH_LXCPATH="$lxcpath" NCC_BENCH_BIN="$bin" \
    bash -c '. "$0"; '"$script" "$bench_root/bench/lib-inner.sh" "$@"
}

# container_file NAME [SETTINGS]: a busybox container file.
container_file() {
  printf '{ system = import %s { }; %s }\n' "$sys" "${2:-}" > "$dir/$1.nix"
  echo "$dir/$1.nix"
}

# ratio A B: A/B with two decimals ("-" if either is missing).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
