#!/usr/bin/env bash
# `make bench-check`: counts the instructions of `micro version` and of a warm
# `micro call` (bench/instructions.sh) and fails when either is more than
# MARGIN percent (default 10) above the count recorded in bench/RESULTS.md.
# Instruction counts hardly move with the machine's load, so a change that
# brings back heavy package initialisation, or an extra registry round trip,
# shows here even on a busy machine. Not part of `make test`.
#   bench/check.sh [-m MARGIN] [-f RESULTS]
set -euo pipefail
margin=${MARGIN:-10}
results=bench/RESULTS.md
while [[ $# -gt 0 ]]; do
  case "$1" in
    -m) margin=$2; shift 2 ;;
    -f) results=$2; shift 2 ;;
    *) echo "usage: $0 [-m MARGIN] [-f RESULTS]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
# recorded NAME: the count in the "| instructions: NAME | N |" row.
recorded() { sed -n "s/^| instructions: $1 | \([0-9]*\) .*/\1/p" "$results" | head -1; }
want_version=$(recorded '`micro version`')
want_call=$(recorded 'warm `micro call`')
if [[ -z "$want_version" || -z "$want_call" ]]; then
  echo "bench-check: $results records no instruction counts (rows \"| instructions: ...\"); run make bench first" >&2
  exit 1
fi
# BENCH_COUNTS: a command that prints the counts as bench/instructions.sh
# does (for the tests of this script).
counts=$(bash -c "${BENCH_COUNTS:-bash bench/instructions.sh}")
have_version=$(awk '$1 == "micro-version" {print $2}' <<<"$counts")
have_call=$(awk '$1 == "micro-call" {print $2}' <<<"$counts")
if [[ -z "$have_version" || -z "$have_call" ]]; then
  echo "bench-check: bench/instructions.sh gave no counts:" >&2
  echo "$counts" >&2
  exit 1
fi
status=0
check() { # NAME HAVE WANT
  local verdict
  verdict=$(awk -v h="$2" -v w="$3" -v m="$margin" 'BEGIN { d = (h - w) * 100 / w; printf "%+.1f%% %s", d, (d > m) ? "FAIL" : "ok" }')
  echo "bench-check: $1: $2 instructions, recorded $3: $verdict (margin +$margin%)"
  [[ "$verdict" == *ok ]] || status=1
}
check "micro version" "$have_version" "$want_version"
check "warm micro call" "$have_call" "$want_call"
exit $status
