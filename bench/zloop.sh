#!/usr/bin/env bash
# bench/zloop.sh [RUNS] [DURATION]: issue 9 row 7's check. Runs
# `micro bench greeter.Hello -z DURATION` RUNS times in a row (default 20
# runs of 2s, 8 callers) against a healthy greeter registered in
# `micro server`, each on a free port of 127.0.0.1 with HOME and XDG_* in a
# temporary directory, and fails unless every run exits 0 with 0 failed
# calls. Needs `make build` first (bin/micro, bin/greeter).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
runs=${1:-20} duration=${2:-2s}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
start_greeter "$work" bin
unclean=0
for i in $(seq "$runs"); do
  rc=0
  out=$(bin/micro bench greeter.Hello '{"name":"Ada"}' -c 8 -z "$duration" --no-progress -o json 2>"$work/bench.err") || rc=$?
  failed=$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["failed"], d["count"])' 2>/dev/null || echo "? ?")
  echo "run $i: exit $rc, failed ${failed% *} of ${failed#* } calls"
  if [ "$rc" -ne 0 ] || [ "${failed% *}" != 0 ]; then unclean=$((unclean + 1)); cat "$work/bench.err" >&2; fi
done
echo "$runs runs of -z $duration: $unclean not clean"
[ "$unclean" -eq 0 ]
