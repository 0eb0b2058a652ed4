#!/usr/bin/env bash
# Installs RabbitMQ for the RabbitMQ tests when it is missing (Debian's
# rabbitmq-server package) and prints the path of the script that runs a node
# in the foreground, for RABBITMQ_SERVER.
#
# The tests start nodes of their own (internal/testenv/rabbitmq.go): as the
# current user, on ports they pick on 127.0.0.1, with their own Erlang port
# mapper, HOME, database and config. The system instance the package's
# postinst starts (user rabbitmq, default ports 5672/25672/4369) is not used:
# when this script installs the package it stops and disables that instance,
# so that it holds no ports; an installation it finds is left as it is.
#
# Usage: scripts/install-rabbitmq.sh            # installs if needed, prints the path
#        RABBITMQ_SERVER=/path/to/rabbitmq-server ...   # an existing one wins
set -euo pipefail

default_server=/usr/lib/rabbitmq/bin/rabbitmq-server

if [[ -n "${RABBITMQ_SERVER:-}" && -x "${RABBITMQ_SERVER}" ]]; then
  echo "${RABBITMQ_SERVER}"
  exit 0
fi

# stop_system_instance stops the package's own node and its port mapper:
# through the init system when there is one, else by the PIDs of processes
# of the rabbitmq user whose node keeps its database in /var/lib/rabbitmq.
stop_system_instance() {
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now rabbitmq-server.service >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1 && [[ -x /etc/init.d/rabbitmq-server ]]; then
    service rabbitmq-server stop >/dev/null 2>&1 || true
  fi
  id rabbitmq >/dev/null 2>&1 || return 0
  local pid stopped=""
  for pid in $(pgrep -u rabbitmq -x beam.smp 2>/dev/null || true); do
    if tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q '/var/lib/rabbitmq'; then
      echo "stopping the rabbitmq-server package's own node (pid ${pid}); the tests run nodes of their own" >&2
      kill "${pid}" 2>/dev/null || true
      stopped="${stopped} ${pid}"
    fi
  done
  for pid in ${stopped}; do
    for _ in $(seq 1 100); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
  done
  for pid in $(pgrep -u rabbitmq -x epmd 2>/dev/null || true); do
    kill "${pid}" 2>/dev/null || true
  done
}

if [[ -x "${default_server}" ]] && command -v epmd >/dev/null 2>&1; then
  echo "${default_server}"
  exit 0
fi

cache_dir="${MICRO_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-test}"
mkdir -p "${cache_dir}"
# One installer at a time: a second caller waits and then finds it installed.
exec 9>"${cache_dir}/rabbitmq-install.lock"
flock 9
if [[ ! -x "${default_server}" ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "install-rabbitmq: rabbitmq-server is not installed and this is not root: run apt-get install rabbitmq-server as root, or set RABBITMQ_SERVER" >&2
    exit 1
  fi
  echo "installing rabbitmq-server (Debian package)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends rabbitmq-server >&2
  stop_system_instance
fi
if [[ ! -x "${default_server}" ]]; then
  echo "install-rabbitmq: ${default_server} is missing after the install" >&2
  exit 1
fi
echo "${default_server}"
