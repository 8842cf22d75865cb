#!/usr/bin/env bash
# The main job, declaratively: a SPEC with two busybox containers,
# converged by `apply`; a re-run that changes nothing; a change to one of
# them; a dry run of dropping the other.
#
# As scripts/demo.sh: inside a network namespace of its own (ncc-demo-apply)
# with state under /var/tmp/nixcloud-container-demo-apply; `scripts/demo-apply.sh
# clean` removes it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(pwd)/nixcloud-container
demo=/var/tmp/nixcloud-container-demo-apply
ns=ncc-demo-apply
export NIXCLOUD_CONTAINER_HOST_CONFIG=$demo/host.toml
. scripts/netns.sh
nsexec() { nsexec_in "$ns" "$@"; }

if [ "${1:-}" = clean ]; then
  if [ -d "$demo" ]; then
    for c in web db; do nsexec "$bin" destroy --force "$c" 2>/dev/null || true; done
    nsexec "$bin" host teardown 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$demo"
  exit 0
fi

mkdir -p "$demo"
chmod 755 "$demo"
printf 'state_dir = "%s/state"\nprofiles_dir = "%s/profiles"\n' "$demo" "$demo" > "$demo/host.toml"
ip netns list | grep -qw "$ns" || ip netns add "$ns"
nsexec ip link set lo up
sys=$(pwd)/examples/busybox/system.nix
spec() {
  cat > "$demo/spec.nix" <<NIX
{
  web = { system = import $sys { marker = "$1"; }; autostart = true; };
  ${2-db = $(pwd)/examples/busybox/container.nix;}
}
NIX
}
show() { echo "+ $*" | sed "s|$bin|nixcloud-container|" >&2; nsexec "$@"; }

spec web-v1
cat "$demo/spec.nix"
show "$bin" apply "$demo/spec.nix"
show "$bin" apply "$demo/spec.nix"
show "$bin" run web -- cat /run/marker
spec web-v2
show "$bin" apply "$demo/spec.nix"
show "$bin" run web -- cat /run/marker
show "$bin" list-generations web
spec web-v2 ""   # db dropped from the SPEC: what would apply do?
show "$bin" apply --dry-run "$demo/spec.nix"
show "$bin" list
