#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root): installs LXC, Nix, dnsmasq,
# iptables, busybox-static and uidmap, and builds ./nixcloud-container.
# Idempotent and non-interactive.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root" >&2
  exit 1
fi

packages=(lxc lxc-dev pkg-config nix-bin dnsmasq-base iptables nftables busybox-static uidmap iproute2 gcc curl ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

. scripts/go.sh
go build -o nixcloud-container ./cmd/nixcloud-container
echo "setup.sh: built $(pwd)/nixcloud-container"
