#!/usr/bin/env bash
# The main job: create and start the offline busybox example container,
# show its address, and run a command in it.
#
# Everything happens in a network namespace of its own, with a host.toml
# whose state lives in a folder of its own and whose containers get host
# ids of their own, so the machine's real interfaces, rules, /var/lib and
# the ids of a real install are left alone. The container runs with the
# host's cgroups (nsexec_in), so its limits apply. Run
# `scripts/demo.sh clean` to remove it all (with the same settings).
#
# Settings (environment), for running it next to another demo or install:
#   NCC_DEMO_NS       network namespace       (default ncc-demo)
#   NCC_DEMO_DIR      state folder            (default /var/tmp/nixcloud-container-demo)
#   NCC_DEMO_ID_BASE  first host uid/gid      (default 1879048192, far from
#                     the tool's default 100000 and from /etc/subuid's usual
#                     ranges; each container takes 65536 from there)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(pwd)/nixcloud-container
demo=${NCC_DEMO_DIR:-/var/tmp/nixcloud-container-demo}
ns=${NCC_DEMO_NS:-ncc-demo}
id_base=${NCC_DEMO_ID_BASE:-1879048192}
case "$ns" in ''|*[!a-zA-Z0-9_-]*) echo "demo.sh: NCC_DEMO_NS: want letters, digits, - and _, got '$ns'" >&2; exit 2 ;; esac
case "$id_base" in ''|*[!0-9]*) echo "demo.sh: NCC_DEMO_ID_BASE: want a number, got '$id_base'" >&2; exit 2 ;; esac
case "$demo" in /*) ;; *) echo "demo.sh: NCC_DEMO_DIR: want an absolute path, got '$demo'" >&2; exit 2 ;; esac
export NIXCLOUD_CONTAINER_HOST_CONFIG=$demo/host.toml
. scripts/netns.sh
nsexec() { nsexec_in "$ns" "$@"; }

if [ "${1:-}" = clean ]; then
  if [ -f "$demo/host.toml" ] && ip netns list | grep -qw "$ns"; then
    nsexec "$bin" destroy --force demo 2>/dev/null || true
    nsexec "$bin" host teardown 2>/dev/null || true
  fi
  # Only a namespace this demo made (see the marker below) is deleted.
  if [ -f "$demo/netns" ] && [ "$(cat "$demo/netns")" = "$ns" ]; then
    ip netns del "$ns" 2>/dev/null || true
  fi
  rm -rf "$demo"
  exit 0
fi

if [ -f "$demo/netns" ] && [ "$(cat "$demo/netns")" != "$ns" ]; then
  echo "demo.sh: $demo belongs to the demo in namespace $(cat "$demo/netns"); run clean with NCC_DEMO_NS=$(cat "$demo/netns") first" >&2
  exit 1
fi
if ip netns list | grep -qw "$ns" && [ ! -f "$demo/netns" ]; then
  echo "demo.sh: network namespace $ns exists and is not this demo's; set NCC_DEMO_NS to another name" >&2
  exit 1
fi
mkdir -p "$demo"
chmod 755 "$demo"
cat > "$demo/host.toml" <<TOML
state_dir = "$demo/state"
profiles_dir = "$demo/profiles"
[idmap]
base = $id_base
TOML
ip netns list | grep -qw "$ns" || ip netns add "$ns"
echo "$ns" > "$demo/netns"
nsexec ip link set lo up

if nsexec "$bin" exists demo; then
  nsexec "$bin" destroy --force demo
fi
# Each step is shown as it would be typed inside the namespace.
show() { echo "+ $*" | sed "s|$bin|nixcloud-container|" >&2; nsexec "$@"; }
show "$bin" create demo examples/busybox/container.nix --start
show "$bin" list
ip=$(show "$bin" show-ip demo | head -n 1)
echo "$ip"
show busybox ping -c 1 -W 2 "$ip"
show "$bin" run demo -- sh -c 'echo "hello from $(hostname) at $(ip -4 -o addr show hostonly | cut -d" " -f7), pid 1 is $(cat /proc/1/comm), uid $(id -u)"; cat /run/marker'
# The container runs in cgroups of its own, with the default ceilings.
pid=$(nsexec lxc-info -P "$demo/state/containers" -n demo -p -H)
cg=$(awk -F: '$2 == "pids" { print "/sys/fs/cgroup/pids" $3; exit } $1 == "0" { print "/sys/fs/cgroup" $3 }' "/proc/$pid/cgroup" | head -n 1)
echo "container demo (init pid $pid) runs in $cg, at most $(cat "$cg/pids.max") tasks"
