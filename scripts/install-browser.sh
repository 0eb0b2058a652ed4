#!/usr/bin/env bash
# Installs what the console's browser tests need, once per machine, and
# prints the directory whose node_modules holds playwright-core:
#
#   - Debian's chromium (apt) when /usr/bin/chromium is missing;
#   - npm's playwright-core, exactly as e2e/browser/package-lock.json pins it,
#     with `npm ci` into a cache directory keyed by that lock file, so a
#     change of the lock installs afresh and an unchanged one is reused.
#
# The cache is under $MICRO_TEST_CACHE (default ~/.cache/micro-test). The
# tests launch /usr/bin/chromium themselves: playwright downloads no browser.
#
# Usage: scripts/install-browser.sh            # installs if needed, prints the dir
#        PLAYWRIGHT_DIR=/path ...               # an existing install wins
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
browser_dir="${root}/e2e/browser"

if [[ -n "${PLAYWRIGHT_DIR:-}" && -d "${PLAYWRIGHT_DIR}/node_modules/playwright-core" ]]; then
  echo "${PLAYWRIGHT_DIR}"
  exit 0
fi

apt_install() {
  if [[ "$(id -u)" != 0 ]]; then
    echo "install-browser: $* missing and not root: install it with apt-get install $*" >&2
    exit 1
  fi
  echo "install-browser: installing $* with apt-get..." >&2
  apt-get update -o DPkg::Lock::Timeout=600 >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 "$@" >&2
}

if [[ ! -x /usr/bin/chromium ]]; then
  apt_install chromium
fi
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

cache_dir="${MICRO_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro-test}"
key="$(cat "${browser_dir}/package.json" "${browser_dir}/package-lock.json" | sha256sum | cut -c1-16)"
target="${cache_dir}/playwright-${key}"
if [[ -f "${target}/.installed" ]]; then
  echo "${target}"
  exit 0
fi

mkdir -p "${cache_dir}"
# One installer at a time: a second caller waits and then reuses the result.
exec 9>"${cache_dir}/playwright-install.lock"
flock 9
if [[ -f "${target}/.installed" ]]; then
  echo "${target}"
  exit 0
fi

work="$(mktemp -d "${cache_dir}/playwright-tmp.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
cp "${browser_dir}/package.json" "${browser_dir}/package-lock.json" "${work}/"
echo "install-browser: npm ci playwright-core into ${target}..." >&2
# No browser download: the tests use Debian's chromium.
(cd "${work}" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts >&2)
touch "${work}/.installed"
rm -rf "${target}"
mv "${work}" "${target}"
trap - EXIT
echo "${target}"
