#!/usr/bin/env bash
# Builds a Consul agent from the Go module proxy for the Consul tests, once per
# machine, and prints the path of the cached binary.
#
# Consul is not packaged in Debian and prebuilt binaries cannot be fetched here,
# so the agent is compiled from github.com/hashicorp/consul with its nested
# modules placed where its replace directives point. The build takes several
# minutes; the result is cached under $MICRO_TEST_CACHE (default
# ~/.cache/micro-test) and reused by every later run.
#
# Usage: scripts/install-consul.sh          # builds if needed, prints the path
#        CONSUL_BIN=/path/to/consul ...      # an existing binary wins
set -euo pipefail

consul_version=v1.20.1
declare -A submodules=(
  [api]=v1.29.4
  [envoyextensions]=v0.7.3
  [proto-public]=v0.6.2
  [sdk]=v0.16.1
  [troubleshoot]=v0.7.1
)

if [[ -n "${CONSUL_BIN:-}" && -x "${CONSUL_BIN}" ]]; then
  echo "${CONSUL_BIN}"
  exit 0
fi

cache_dir="${MICRO_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-test}"
target="${cache_dir}/consul-${consul_version}/consul"
if [[ -x "${target}" ]]; then
  echo "${target}"
  exit 0
fi

mkdir -p "${cache_dir}"
# One builder at a time: a second caller waits and then reuses the result.
exec 9>"${cache_dir}/consul-build.lock"
flock 9
if [[ -x "${target}" ]]; then
  echo "${target}"
  exit 0
fi

module_dir() { # module@version -> directory in the module cache
  go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

echo "building consul ${consul_version} from the Go module proxy (several minutes, once per machine)..." >&2
work="$(mktemp -d)"
trap 'chmod -R u+w "${work}" 2>/dev/null; rm -rf "${work}"' EXIT

src="${work}/consul"
cp -r "$(module_dir "github.com/hashicorp/consul@${consul_version}")" "${src}"
chmod -R u+w "${src}"
for sub in "${!submodules[@]}"; do
  dir="$(module_dir "github.com/hashicorp/consul/${sub}@${submodules[$sub]}")"
  rm -rf "${src:?}/${sub}"
  cp -r "${dir}" "${src}/${sub}"
  chmod -R u+w "${src}/${sub}"
done

mkdir -p "$(dirname "${target}")"
(cd "${src}" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "${target}.tmp" .)
mv "${target}.tmp" "${target}"
echo "consul cached at ${target}" >&2
echo "${target}"
