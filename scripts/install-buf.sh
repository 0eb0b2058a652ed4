#!/usr/bin/env bash
# Builds the buf command line from the Go module proxy for the gateway tests
# (`buf curl` speaks Connect and gRPC-Web to `micro api`), once per machine,
# and prints the path of the cached binary.
#
# Prebuilt buf binaries cannot be fetched here, so buf is compiled with
# `go install` into a cache directory under $MICRO_TEST_CACHE (default
# ~/.cache/micro-test) and reused by every later run.
#
# Usage: scripts/install-buf.sh             # builds if needed, prints the path
#        BUF_BIN=/path/to/buf ...            # an existing binary wins
set -euo pipefail

buf_version=v1.75.0

if [[ -n "${BUF_BIN:-}" && -x "${BUF_BIN}" ]]; then
  echo "${BUF_BIN}"
  exit 0
fi

cache_dir="${MICRO_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-test}"
target_dir="${cache_dir}/buf-${buf_version}"
target="${target_dir}/buf"
if [[ -x "${target}" ]]; then
  echo "${target}"
  exit 0
fi

mkdir -p "${cache_dir}"
# One builder at a time: a second caller waits and then reuses the result.
exec 9>"${cache_dir}/buf-build.lock"
flock 9
if [[ -x "${target}" ]]; then
  echo "${target}"
  exit 0
fi

echo "building buf ${buf_version} from the Go module proxy (a few minutes, once per machine)..." >&2
mkdir -p "${target_dir}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
GOBIN="${work}" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath "github.com/bufbuild/buf/cmd/buf@${buf_version}"
mv "${work}/buf" "${target}"
echo "buf cached at ${target}" >&2
echo "${target}"
