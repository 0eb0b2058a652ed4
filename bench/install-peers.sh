#!/usr/bin/env bash
# Installs the programs bench/run.sh compares micro with, from the Go module
# proxy, once per machine, and prints the directory that holds them:
#
#   grpcurl             github.com/fullstorydev/grpcurl/cmd/grpcurl
#   ghz                 github.com/bojand/ghz/cmd/ghz
#   grpc-bench-client   google.golang.org/grpc/benchmark/client  (grpc-go's
#   grpc-bench-server   google.golang.org/grpc/benchmark/server   own, static stubs)
#
# The grpc-go benchmark programs are built at the grpc version of go.mod, so
# they measure the same gRPC library micro is built with. Everything is cached
# under $MICRO_TEST_CACHE (default ~/.cache/micro-test)/bench-peers and reused.
#
# and, asked for by name, the HTTP load generator bench/api.sh -l wrk uses:
#
#   wrk                 the Debian/Ubuntu package wrk (apt-get, as root or with
#                       sudo), when no wrk is on the PATH
#
# Usage: bench/install-peers.sh        # installs what is missing, prints the directory
#        bench/install-peers.sh wrk    # installs wrk when missing, prints its path
#        WRK_BIN=/path/to/wrk ...      # an existing wrk wins
set -euo pipefail

if [[ "${1:-}" == wrk ]]; then
  if [[ -n "${WRK_BIN:-}" && -x "${WRK_BIN}" ]]; then # an existing binary wins
    echo "${WRK_BIN}"
    exit 0
  fi
  if ! command -v wrk >/dev/null; then
    if ! command -v apt-get >/dev/null; then
      echo "bench/install-peers.sh: no wrk on the PATH and no apt-get to install it with: install wrk" >&2
      exit 1
    fi
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "bench: installing wrk (apt-get install wrk)" >&2
    install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 wrk)
    "${install[@]}" >&2 || { "${sudo[@]}" apt-get update -o DPkg::Lock::Timeout=600 >&2 && "${install[@]}" >&2; }
  fi
  command -v wrk
  exit 0
fi

grpcurl_version=v1.9.3
ghz_version=v0.120.0

cd "$(dirname "$0")/.."
if ! command -v go >/dev/null; then
  echo "bench/install-peers.sh: go is not on the PATH; install Go first" >&2
  exit 1
fi
grpc_version=$(go list -m -f '{{.Version}}' google.golang.org/grpc)

cache_dir="${MICRO_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-test}"
dir="${cache_dir}/bench-peers/grpcurl-${grpcurl_version}_ghz-${ghz_version}_grpc-${grpc_version}"
mkdir -p "${dir}"
exec 9>"${dir}.lock"
flock 9

# install NAME PACKAGE@VERSION: go install into a private GOBIN, then rename.
install() {
  local name=$1 pkg=$2
  [[ -x "${dir}/${name}" ]] && return 0
  echo "bench: installing ${name} (${pkg})" >&2
  local gobin
  gobin="$(mktemp -d)"
  # Outside the repository: the peers' own go.mod decides their dependencies.
  (cd "${gobin}" && GOBIN="${gobin}" GOFLAGS=-mod=mod go install "${pkg}")
  mv "${gobin}/$(basename "${pkg%@*}")" "${dir}/${name}"
  rm -rf "${gobin}"
}

install grpcurl "github.com/fullstorydev/grpcurl/cmd/grpcurl@${grpcurl_version}"
install ghz "github.com/bojand/ghz/cmd/ghz@${ghz_version}"
install grpc-bench-client "google.golang.org/grpc/benchmark/client@${grpc_version}"
install grpc-bench-server "google.golang.org/grpc/benchmark/server@${grpc_version}"
echo "${dir}"
