#!/usr/bin/env bash
# The main job: create and start the offline busybox example container,
# show its address, and run a command in it.
#
# Everything happens in a network namespace of its own (ncc-demo), with a
# host.toml whose state lives under /var/tmp/nixcloud-container-demo, so the
# machine's real interfaces, rules and /var/lib are left alone. Run
# `scripts/demo.sh clean` to remove it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(pwd)/nixcloud-container
demo=/var/tmp/nixcloud-container-demo
ns=ncc-demo
export NIXCLOUD_CONTAINER_HOST_CONFIG=$demo/host.toml
. scripts/netns.sh
nsexec() { nsexec_in "$ns" "$@"; }

if [ "${1:-}" = clean ]; then
  if [ -d "$demo" ]; then
    nsexec "$bin" destroy --force demo 2>/dev/null || true
    nsexec "$bin" host teardown 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$demo"
  exit 0
fi

mkdir -p "$demo"
chmod 755 "$demo"
cat > "$demo/host.toml" <<TOML
state_dir = "$demo/state"
profiles_dir = "$demo/profiles"
TOML
ip netns list | grep -qw "$ns" || ip netns add "$ns"
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
