#!/usr/bin/env bash
# Counts the instructions (valgrind's callgrind) of `micro version` and of a
# warm `micro call` by name through the NATS registry (descriptor cache warm),
# the median of three runs each; they move by well under 1% from run to run,
# whatever else the machine does (the garbage collector is off). Prints:
#   micro-version <instructions>
#   micro-call <instructions>
#   bench/instructions.sh [-b BINDIR]   (BINDIR holds micro and greeter; built when absent)
set -euo pipefail
bin=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -b) bin=$2; shift 2 ;;
    *) echo "usage: $0 [-b BINDIR]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
. bench/lib.sh
if ! command -v valgrind >/dev/null; then
  echo "bench: installing valgrind" >&2
  apt-get update -qq >&2 && apt-get install -y -qq -o DPkg::Lock::Timeout=600 valgrind >&2
fi
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if [[ -z "$bin" ]]; then
  bin="$work/bin"
  build_micro "$bin/micro"
  go build -o "$bin/greeter" ./examples/greeter
fi
start_greeter "$work" "$bin"

# count ARGS...: instructions of one run of micro ARGS. Go's asynchronous
# preemption signals upset callgrind, so they are off (GODEBUG); so is the
# garbage collector (GOGC=off), whose one cycle more or less in a short run
# would move the count by a third.
count() {
  GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin/micro" "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
echo "micro-version $(median3 "$(count version)" "$(count version)" "$(count version)")"
req='{"name":"Ada"}'
echo "micro-call $(median3 "$(count call greeter Greeter.Hello "$req")" "$(count call greeter Greeter.Hello "$req")" "$(count call greeter Greeter.Hello "$req")")"
