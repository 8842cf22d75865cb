#!/usr/bin/env bash
# Runs every test: formatting and vet, unit tests, and the integration
# suite (real LXC, Nix, dnsmasq, iptables; network changes only inside
# namespaces the tests create). Needs root and scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go.sh
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -count=1 -timeout 20m ./... "$@"
