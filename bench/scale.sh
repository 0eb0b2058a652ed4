#!/usr/bin/env bash
# Measures how micro's costs grow with the registry: NATS, Consul and etcd
# at 100, 1,000 and 10,000 registered nodes (bench/scale/main.go), and
# prints a Markdown section for bench/RESULTS.md. Not part of make test.
#
#   bench/scale.sh [-q] [-sizes 100,1000,10000] [-backends nats,consul,etcd] [-register-budget 6m]
#   (-q: 100 and 1,000 nodes only, for a smoke run)
# Consul and etcd come from CONSUL_BIN / ETCD_BIN or scripts/install-*.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -q) args+=(-sizes 100,1000); shift ;;
    -sizes|-backends|-register-budget) args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [-q] [-sizes LIST] [-backends LIST] [-register-budget DURATION]" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
. bench/lib.sh
build_micro "$work/micro"
go build -o "$work/greeter" ./examples/greeter
go build -o "$work/scale" ./bench/scale
"$work/scale" -micro "$work/micro" -greeter "$work/greeter" "${args[@]}"
