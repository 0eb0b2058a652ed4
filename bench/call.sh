#!/usr/bin/env bash
# Median wall time of a warm `micro call greeter Greeter.Hello '{"name":"Ada"}'`
# beside `micro version`, interleaved in the same run, against a micro server
# and a greeter started here (everything on 127.0.0.1, stopped on exit).
#   bench/call.sh [-n RUNS] [-b BINDIR]
# BINDIR holds micro and greeter (default: built into a temporary directory).
# Prints the two medians, their ratio and the difference, and whether the
# call is under the 30 ms target.
set -euo pipefail
runs=20
bindir=""
target_ms=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    -b) bindir=$2; shift 2 ;;
    *) echo "usage: $0 [-n RUNS] [-b BINDIR]" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
. bench/lib.sh
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [[ -z "$bindir" ]]; then
  bindir="$work/bin"
  build_micro "$bindir/micro"
  go build -o "$bindir/greeter" ./examples/greeter
fi
micro="$bindir/micro"

# A free port for the registry.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 4299)
address="127.0.0.1:$port"
export MICRO_REGISTRY=nats MICRO_REGISTRY_ADDRESS="$address" XDG_CACHE_HOME="$work/cache"
export MICRO_SERVER_ADDRESS=127.0.0.1:0

"$micro" server --address "$address" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
"$bindir/greeter" 2>"$work/greeter.log" &
pids+=($!)
for _ in $(seq 100); do
  "$micro" call greeter Greeter.Hello '{"name":"Ada"}' >/dev/null 2>&1 && break # also warms the descriptor cache
  sleep 0.1
done
"$micro" call greeter Greeter.Hello '{"name":"Ada"}' >/dev/null # fails loudly if it never came up
"$micro" version >/dev/null

# now_us is the wall clock in microseconds.
now_us() { local t; t=$(date +%s%N); echo $(( t / 1000 )); }
version_times=()
call_times=()
for _ in $(seq "$runs"); do
  start=$(now_us); "$micro" version >/dev/null; end=$(now_us)
  version_times+=($(( end - start )))
  start=$(now_us); "$micro" call greeter Greeter.Hello '{"name":"Ada"}' >/dev/null; end=$(now_us)
  call_times+=($(( end - start )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
version_us=$(median "${version_times[@]}")
call_us=$(median "${call_times[@]}")
awk -v v="$version_us" -v c="$call_us" -v n="$runs" -v target="$target_ms" 'BEGIN {
  printf "%.2f ms median of %d runs: micro version\n", v/1000, n
  printf "%.2f ms median of %d runs: micro call greeter Greeter.Hello {\"name\":\"Ada\"} (warm descriptor cache)\n", c/1000, n
  printf "ratio call/version %.2f, difference %.2f ms; target: call under %d ms: %s\n", c/v, (c-v)/1000, target, (c/1000 < target ? "met" : "MISSED")
}'
