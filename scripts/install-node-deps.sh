#!/usr/bin/env bash
# Installs the Node packages of the end-to-end MCP client (e2e/mcpclient:
# the official TypeScript MCP SDK, pinned by its package-lock.json) into a
# cache keyed by package.json and package-lock.json, and prints the path of
# the node_modules directory. A second run with the same files installs
# nothing. Needs Node 20 or later and npm; installs them from Debian's
# packages when they are missing and this runs as root.
#
# Cache: ${MICRO_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-test}/node
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/e2e/mcpclient"
cache="${MICRO_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-test}/node"

node_ok() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
		node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'
}

if ! node_ok; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "install-node-deps: installing nodejs and npm" >&2
		apt-get update >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 nodejs npm >&2
	fi
	if ! node_ok; then
		echo "install-node-deps: need Node 20 or later and npm (have: $(node --version 2>/dev/null || echo none))" >&2
		exit 1
	fi
fi

key="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)"
dir="$cache/mcpclient-$key"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$dir/.installed" ]; then
	tmp="$(mktemp -d "$cache/tmp.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	cp "$src/package.json" "$src/package-lock.json" "$tmp/"
	echo "install-node-deps: npm ci into $dir" >&2
	(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
	rm -rf "$dir"
	mv "$tmp" "$dir"
	trap - EXIT
	touch "$dir/.installed"
fi
echo "$dir/node_modules"
