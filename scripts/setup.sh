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

# The manual page and shell completion, generated from the binary's verbs
# and flags (bash-completion, zsh and fish read these folders; DESTDIR
# puts them under another root).
install_generated() { # FILE ARGS...: write the binary's output to FILE
  local file=$1
  shift
  mkdir -p "$(dirname "$file")"
  ./nixcloud-container "$@" > "$file.tmp" && mv "$file.tmp" "$file"
}
install_generated "${DESTDIR:-}"/usr/local/share/man/man8/nixcloud-container.8 man
install_generated "${DESTDIR:-}"/usr/share/bash-completion/completions/nixcloud-container completion bash
install_generated "${DESTDIR:-}"/usr/local/share/zsh/site-functions/_nixcloud-container completion zsh
install_generated "${DESTDIR:-}"/usr/share/fish/vendor_completions.d/nixcloud-container.fish completion fish
echo "setup.sh: installed the manual (man 8 nixcloud-container) and bash, zsh and fish completion"
