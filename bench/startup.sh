#!/usr/bin/env bash
# Median wall time of a micro command over N runs (default: `micro version`, 20 runs).
#   bench/startup.sh [-n RUNS] [-b BINARY] [-- ARGS...]
# Prints: "<median ms> ms median of <N> runs: micro ARGS".
set -euo pipefail
runs=20
bin=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    -b) bin=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [-n RUNS] [-b BINARY] [-- ARGS...]" >&2; exit 2 ;;
  esac
done
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=(version)

cd "$(dirname "$0")/.."
. bench/lib.sh
if [[ -z "$bin" ]]; then
  bin="$(mktemp -d)/micro"
  build_micro "$bin"
fi

"$bin" "${args[@]}" >/dev/null # warm the page cache
times=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$bin" "${args[@]}" >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000 )))
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}')
awk -v us="$median" -v n="$runs" -v cmd="micro ${args[*]}" 'BEGIN {printf "%.2f ms median of %d runs: %s\n", us/1000, n, cmd}'
