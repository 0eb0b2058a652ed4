#!/usr/bin/env bash
# Requests per second through `micro api` against direct gRPC calls by
# `micro bench`, on the same greeter in the same run, alternated run by run:
#
#   plain  POST /greeter/Greeter.Hello          (JSON, go-micro route)
#   connect POST /greeter.v1.Greeter/Hello       (Connect, application/json)
#   direct micro bench greeter Greeter.Hello     (gRPC through registry + selector)
#   floor  POST to bench/gwfloor                 (the least a JSON-to-gRPC gateway
#                                                 on micro api's HTTP layer costs:
#                                                 pkg/httpfast, a generated stub
#                                                 on one connection, nothing else)
#
# each with 16 concurrent workers (16 connections of the HTTP load
# generator, -c 16 for micro bench). Also reports the gateway's own CPU time
# per request, from /proc/PID/stat (utime + stime) over its runs, and the
# floor's beside it. Target: each ratio >= 0.6.
#
#   bench/api.sh [-n REQUESTS] [-r REPS] [-b BINDIR] [-l raw|net/http|wrk] [-d SECONDS]
# BINDIR holds micro, greeter, apiload and gwfloor (default: built into a temporary
# directory). -l is the HTTP load generator: bench/apiload with its raw
# client (the default: requests made once, answers read by hand, as wrk
# does), bench/apiload with net/http's client (which costs the machine about
# as much CPU per request as the gateway's HTTP server), or wrk (2 threads,
# 16 connections, bench/api-wrk.lua for the POST body and the Connect
# header; installed by bench/install-peers.sh wrk when missing). wrk runs for
# a time, not a count: -d SECONDS per run (default 1), and micro bench then
# runs as long (-z); apiload and micro bench otherwise make -n REQUESTS.
# Everything runs on 127.0.0.1; what starts here stops on exit.
set -euo pipefail
requests=2000
reps=7
bindir=""
loader=raw
seconds=1
usage="usage: $0 [-n REQUESTS] [-r REPS] [-b BINDIR] [-l raw|net/http|wrk] [-d SECONDS]"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) requests=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -b) bindir=$2; shift 2 ;;
    -l) loader=$2; shift 2 ;;
    -d) seconds=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case "$loader" in
  raw | net/http) ;;
  wrk) [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "$0: -d $seconds: want a whole number of seconds" >&2; exit 2; } ;;
  *) echo "$0: -l $loader: want raw, net/http or wrk" >&2; echo "$usage" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
source bench/lib.sh
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
  build_micro "$bindir/micro" # as the Makefile builds it
  go build -o "$bindir/greeter" ./examples/greeter
fi
[[ -x "$bindir/apiload" ]] || go build -o "$bindir/apiload" ./bench/apiload
[[ -x "$bindir/gwfloor" ]] || go build -o "$bindir/gwfloor" ./bench/gwfloor
micro="$bindir/micro"
if [[ "$loader" == wrk ]]; then
  wrk=$(bash bench/install-peers.sh wrk)
fi

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport)
export MICRO_REGISTRY=nats MICRO_REGISTRY_ADDRESS="127.0.0.1:$port" XDG_CACHE_HOME="$work/cache" HOME="$work/home"
"$micro" server --address "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
gport=$(freeport)
MICRO_SERVER_ADDRESS="127.0.0.1:$gport" "$bindir/greeter" 2>"$work/greeter.log" &
pids+=($!)
for _ in $(seq 100); do "$micro" call greeter Greeter.Hello '{"name":"Ada"}' >/dev/null 2>&1 && break; sleep 0.1; done

aport=$(freeport)
"$micro" api --address "127.0.0.1:$aport" 2>"$work/api.log" &  # access log on, as by default
api_pid=$!
pids+=($api_pid)
base="http://127.0.0.1:$aport"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
fport=$(freeport)
"$bindir/gwfloor" -listen "127.0.0.1:$fport" -target "127.0.0.1:$gport" 2>"$work/gwfloor.log" &
floor_pid=$!
pids+=($floor_pid)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$fport") 2>/dev/null && break; sleep 0.1; done
# load URL [HEADER]: one run of the load generator, 16 at a time; prints its
# JSON summary ({"rps": ..., "requests": ..., ...}).
load() {
  local url=$1 header=${2:-}
  if [[ "$loader" == wrk ]]; then
    WRK_BODY='{"name":"Ada"}' WRK_HEADERS="$header" "$wrk" -t 2 -c 16 -d "${seconds}s" -s bench/api-wrk.lua "$url" | tail -n 1
  else
    "$bindir/apiload" -client "$loader" -url "$url" ${header:+-H "$header"} -d '{"name":"Ada"}' -n "$requests" -c 16
  fi
}
"$bindir/apiload" -url "$base/greeter/Greeter.Hello" -d '{"name":"Ada"}' -n 200 -c 4 >/dev/null # warm

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
ticks() { awk '{print $14 + $15}' "/proc/${1:-$api_pid}/stat"; }
rps() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))'; }
# summary JSON: "RPS REQUESTS", failing on any error answer.
rps_requests() { python3 -c '
import json, sys
s = json.load(sys.stdin)
if s.get("errors"):
    sys.exit("bench/api.sh: %d of %d requests failed" % (s["errors"], s["requests"]))
print(round(s["rps"]), s["requests"])'; }
# Both sides of a pair run as long as each other: -n REQUESTS each, or with
# wrk (which runs for a time) micro bench for the same -d SECONDS, so that
# neither side's ramp-up weighs more than the other's.
direct_length=(-n "$requests")
if [[ "$loader" == wrk ]]; then
  direct_length=(-z "${seconds}s" -n 1000000000)
fi
direct=(); plain=(); connect=(); floor=(); api_ticks=0; api_requests=0; floor_ticks=0; floor_requests=0
for _ in $(seq "$reps"); do
  direct+=($("$micro" bench greeter Greeter.Hello '{"name":"Ada"}' "${direct_length[@]}" -c 16 -o json 2>/dev/null | rps))
  before=$(ticks)
  out=$(load "$base/greeter/Greeter.Hello" | rps_requests); read -r p pn <<<"$out"
  out=$(load "$base/greeter.v1.Greeter/Hello" 'Connect-Protocol-Version: 1' | rps_requests); read -r c cn <<<"$out"
  after=$(ticks)
  plain+=("$p"); connect+=("$c")
  api_ticks=$((api_ticks + after - before))
  api_requests=$((api_requests + pn + cn))
  before=$(ticks "$floor_pid")
  out=$(load "http://127.0.0.1:$fport/greeter/Greeter.Hello" | rps_requests); read -r f fn <<<"$out"
  after=$(ticks "$floor_pid")
  floor+=("$f")
  floor_ticks=$((floor_ticks + after - before))
  floor_requests=$((floor_requests + fn))
done
run_length="$requests calls"
[[ "$loader" == wrk ]] && run_length="${seconds}s"
loader_name="apiload -client $loader"
if [[ "$loader" == wrk ]]; then
  wrk_version=$("$wrk" --version 2>&1 | head -n 1 | cut -d' ' -f1-2 || true)
  loader_name="wrk -t 2 -c 16 -d ${seconds}s ($wrk_version)"
fi
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# pair_ratios NUM [DEN]: the ratio of each run of array NUM to the run of
# array DEN (default direct) beside it, whose median is taken: a pair
# shares whatever load the machine had.
pair_ratios() { local -n num=$1 den=${2:-direct}; local i; for i in "${!num[@]}"; do awk -v a="${num[$i]}" -v b="${den[$i]}" 'BEGIN { printf "%.3f\n", a/b }'; done; }
d=$(median "${direct[@]}"); p=$(median "${plain[@]}"); c=$(median "${connect[@]}")
f=$(median "${floor[@]}")
pr=$(median $(pair_ratios plain)); cr=$(median $(pair_ratios connect)); fr=$(median $(pair_ratios floor))
# micro api's plain route against the floor run beside it.
pf=$(median $(pair_ratios plain floor))
hz=$(getconf CLK_TCK)
awk -v d="$d" -v p="$p" -v c="$c" -v pr="$pr" -v cr="$cr" -v t="$api_ticks" -v n="$api_requests" -v hz="$hz" -v reps="$reps" -v req="$run_length" \
    -v dl="${direct[*]}" -v pl="${plain[*]}" -v cl="${connect[*]}" -v f="$f" -v fl="${floor[*]}" -v fr="$fr" -v pf="$pf" -v ft="$floor_ticks" -v fn="$floor_requests" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" -v load0="$load_start" -v loader="$loader_name" 'BEGIN {
  printf "direct gRPC (micro bench -c 16): %d rps median of %d runs of %s (%s)\n", d, reps, req, dl
  printf "load generator: %s\n", loader
  printf "gateway plain JSON (-c 16):      %d rps (%s); ratio %.3f (median of per-pair ratios): %s\n", p, pl, pr, (pr >= 0.6 ? "met" : "MISSED")
  printf "gateway Connect JSON (-c 16):    %d rps (%s); ratio %.3f (median of per-pair ratios): %s\n", c, cl, cr, (cr >= 0.6 ? "met" : "MISSED")
  printf "gateway CPU per request: %.1f us (%d ticks at %d Hz over %d requests)\n", t/hz*1e6/n, t, hz, n
  printf "floor (bench/gwfloor, -c 16):    %d rps (%s); ratio %.3f to direct; micro api plain / floor %.3f\n", f, fl, fr, pf
  printf "floor CPU per request: %.1f us (%d ticks over %d requests)\n", ft/hz*1e6/fn, ft, fn
  printf "load average at the start: %s; at the end: %s\n", load0, load
}'
