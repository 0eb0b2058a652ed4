#!/usr/bin/env bash
# Installs the etcd server the etcd tests run (Debian's etcd-server package)
# when it is missing, and prints the path of the binary.
#
# The tests start their own etcd on loopback ports they pick, with a data
# directory of their own; nothing is configured or started here. An apt
# package needs no cache of ours: it stays installed on the machine.
#
# Usage: scripts/install-etcd.sh          # installs if needed, prints the path
#        ETCD_BIN=/path/to/etcd ...        # an existing binary wins
set -euo pipefail

if [[ -n "${ETCD_BIN:-}" ]]; then
  if [[ -x "${ETCD_BIN}" && ! -d "${ETCD_BIN}" ]]; then
    echo "${ETCD_BIN}"
    exit 0
  fi
  echo "install-etcd: ETCD_BIN=${ETCD_BIN} is not an executable file" >&2
  exit 1
fi

find_etcd() {
  if command -v etcd >/dev/null 2>&1; then
    command -v etcd
  elif [[ -x /usr/bin/etcd ]]; then
    echo /usr/bin/etcd
  else
    return 1
  fi
}

if bin="$(find_etcd)"; then
  echo "${bin}"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-etcd: no etcd on PATH and no apt-get to install Debian's etcd-server; install etcd and set ETCD_BIN" >&2
  exit 1
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-etcd: installing etcd-server needs root (or sudo)" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "install-etcd: installing Debian's etcd-server..." >&2
# The package's service must not start a server on the default ports: the
# tests start their own. policy-rc.d tells invoke-rc.d not to start it.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [[ ! -e "${policy}" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "${policy}" >/dev/null
  "${sudo[@]}" chmod +x "${policy}"
  added_policy=1
fi
cleanup() { if [[ -n "${added_policy}" ]]; then "${sudo[@]}" rm -f "${policy}"; fi; }
trap cleanup EXIT

"${sudo[@]}" apt-get update >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -o DPkg::Lock::Timeout=600 etcd-server >&2

if bin="$(find_etcd)"; then
  echo "install-etcd: etcd at ${bin}" >&2
  echo "${bin}"
  exit 0
fi
echo "install-etcd: etcd-server was installed but no etcd binary was found" >&2
exit 1
