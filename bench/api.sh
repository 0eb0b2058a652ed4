#!/usr/bin/env bash
# Requests per second through `micro api` against direct gRPC calls by
# `micro bench`, on the same greeter in the same run, alternated run by run:
#
#   plain  POST /greeter/Greeter.Hello          (JSON, go-micro route)
#   connect POST /greeter.v1.Greeter/Hello       (Connect, application/json)
#   direct micro bench greeter Greeter.Hello     (gRPC through registry + selector)
#
# each with 16 concurrent workers (bench/apiload for HTTP, -c 16 for micro
# bench). Also reports the gateway's own CPU time per request, from
# /proc/PID/stat (utime + stime) over its runs. Target: each ratio >= 0.6.
#
#   bench/api.sh [-n REQUESTS] [-r REPS] [-b BINDIR] [-l raw|net/http]
# BINDIR holds micro, greeter and apiload (default: built into a temporary
# directory). -l is apiload's HTTP client (default raw: requests made once,
# answers read by hand, as wrk does; net/http: Go's client, which costs the
# machine about as much CPU per request as the gateway's HTTP server).
# Everything runs on 127.0.0.1; what starts here stops on exit.
set -euo pipefail
requests=2000
reps=7
bindir=""
loader=raw
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) requests=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -b) bindir=$2; shift 2 ;;
    -l) loader=$2; shift 2 ;;
    *) echo "usage: $0 [-n REQUESTS] [-r REPS] [-b BINDIR] [-l raw|net/http]" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
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
  go build -o "$bindir/micro" .
  go build -o "$bindir/greeter" ./examples/greeter
fi
[[ -x "$bindir/apiload" ]] || go build -o "$bindir/apiload" ./bench/apiload
micro="$bindir/micro"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport)
export MICRO_REGISTRY=nats MICRO_REGISTRY_ADDRESS="127.0.0.1:$port" XDG_CACHE_HOME="$work/cache" HOME="$work/home"
"$micro" server --address "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
MICRO_SERVER_ADDRESS=127.0.0.1:0 "$bindir/greeter" 2>"$work/greeter.log" &
pids+=($!)
for _ in $(seq 100); do "$micro" call greeter Greeter.Hello '{"name":"Ada"}' >/dev/null 2>&1 && break; sleep 0.1; done

aport=$(freeport)
"$micro" api --address "127.0.0.1:$aport" 2>"$work/api.log" &  # access log on, as by default
api_pid=$!
pids+=($api_pid)
base="http://127.0.0.1:$aport"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
"$bindir/apiload" -client "$loader" -url "$base/greeter/Greeter.Hello" -d '{"name":"Ada"}' -n 200 -c 4 >/dev/null # warm

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
ticks() { awk '{print $14 + $15}' "/proc/$api_pid/stat"; }
rps() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))'; }
direct=(); plain=(); connect=(); api_ticks=0; api_requests=0
for _ in $(seq "$reps"); do
  direct+=($("$micro" bench greeter Greeter.Hello '{"name":"Ada"}' -n "$requests" -c 16 -o json 2>/dev/null | rps))
  before=$(ticks)
  plain+=($("$bindir/apiload" -client "$loader" -url "$base/greeter/Greeter.Hello" -d '{"name":"Ada"}' -n "$requests" -c 16 | rps))
  connect+=($("$bindir/apiload" -client "$loader" -url "$base/greeter.v1.Greeter/Hello" -H 'Connect-Protocol-Version: 1' -d '{"name":"Ada"}' -n "$requests" -c 16 | rps))
  after=$(ticks)
  api_ticks=$((api_ticks + after - before))
  api_requests=$((api_requests + 2 * requests))
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# The ratio of each run to the direct run beside it, then their median:
# a pair shares whatever load the machine had.
pair_ratios() { local -n num=$1; local i; for i in "${!num[@]}"; do awk -v a="${num[$i]}" -v b="${direct[$i]}" 'BEGIN { printf "%.3f\n", a/b }'; done; }
d=$(median "${direct[@]}"); p=$(median "${plain[@]}"); c=$(median "${connect[@]}")
pr=$(median $(pair_ratios plain)); cr=$(median $(pair_ratios connect))
hz=$(getconf CLK_TCK)
awk -v d="$d" -v p="$p" -v c="$c" -v pr="$pr" -v cr="$cr" -v t="$api_ticks" -v n="$api_requests" -v hz="$hz" -v reps="$reps" -v req="$requests" \
    -v dl="${direct[*]}" -v pl="${plain[*]}" -v cl="${connect[*]}" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" -v load0="$load_start" -v loader="$loader" 'BEGIN {
  printf "direct gRPC (micro bench -c 16): %d rps median of %d runs of %d calls (%s)\n", d, reps, req, dl
  printf "load generator: apiload -client %s\n", loader
  printf "gateway plain JSON (-c 16):      %d rps (%s); ratio %.3f (median of per-pair ratios): %s\n", p, pl, pr, (pr >= 0.6 ? "met" : "MISSED")
  printf "gateway Connect JSON (-c 16):    %d rps (%s); ratio %.3f (median of per-pair ratios): %s\n", c, cl, cr, (cr >= 0.6 ? "met" : "MISSED")
  printf "gateway CPU per request: %.1f us (%d ticks at %d Hz over %d requests)\n", t/hz*1e6/n, t, hz, n
  printf "load average at the start: %s; at the end: %s\n", load0, load
}'
