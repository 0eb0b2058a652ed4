#!/usr/bin/env bash
# Measures micro's performance figures and writes bench/RESULTS.md. Every
# figure is a ratio of two things measured side by side in this run, on this
# machine, so that the figures mean the same on a laptop and on a loaded CI
# runner:
#
#   1. dynamic unary calls (pkg/call) against generated stubs, same server
#   2. a warm `micro call` against `micro version` (bench/call.sh)
#   3. micro's NATS publish against bare nats.go
#   4. registry round trips per call once the selector is warm (cold as the
#      reference)
#   5. time from a node's SIGKILL to its last selection, against its TTL
#   6. `micro bench` through registry + selector against the same load
#      with --address (no registry)
#   7. MCP tools/list for 1,000 registered services against 100 (pkg/mcp)
#   8. `micro api` requests per second (plain JSON, Connect JSON) against direct
#      gRPC calls by `micro bench` (bench/api.sh), and the gateway's CPU per request
#   9. micro against the peers it is compared with: a Go hello-world,
#      grpcurl, grpc-go's benchmark client and server, ghz (bench/peers.sh)
#  10. instruction counts (callgrind) of `micro version` and a warm
#      `micro call` (bench/instructions.sh), which `make bench-check` compares
#      with
#  11. registry size against cost (bench/scale.sh, its own section): list,
#      get, a warm call, a watcher's memory and the read rate at 100, 1,000
#      and 10,000 nodes
#
#   bench/run.sh [-o FILE] [-q] [-p]
#     -q: fewer repetitions, for a smoke run
#     -p: only figures 9 and 10, replacing their section of FILE and keeping
#         the rest of it
# Everything runs on 127.0.0.1; every server started here is stopped on exit.
set -euo pipefail
out=bench/RESULTS.md
reps=5
calls=3000
peer_runs=20
only_peers=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    -o) out=$2; shift 2 ;;
    -q) reps=2; calls=1000; peer_runs=8; shift ;;
    -p) only_peers=true; shift ;;
    *) echo "usage: $0 [-o FILE] [-q] [-p]" >&2; exit 2 ;;
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

log() { echo "bench: $*" >&2; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# metric FILE NAME UNIT: the values of a benchmark metric, one a line.
metric() { awk -v name="$2" -v unit="$3" '$1 ~ name { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }' "$1"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
log "building"
bin="$work/bin"
build_micro "$bin/micro"
go build -o "$bin/greeter" ./examples/greeter

# 9 and 10 first: the peers and the instruction counts, between markers in
# RESULTS.md so that -p can replace them alone.
log "9/10 against the peers (bench/peers.sh)"
{
  echo "<!-- peers: written by bench/run.sh (figures 9 and 10) -->"
  echo "## Against the peers"
  echo
  echo "Measured on $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown), by \`bash bench/peers.sh -n $peer_runs\`."
  echo
  bash bench/peers.sh -b "$bin" -n "$peer_runs"
  echo
  log "10/10 instruction counts (bench/instructions.sh, callgrind)"
  counts=$(bash bench/instructions.sh -b "$bin")
  echo "Instruction counts (valgrind --tool=callgrind, median of 3; \`make bench-check\` fails when a count is more than 10% above these):"
  echo
  echo "| what | instructions |"
  echo "|---|---|"
  echo "| instructions: \`micro version\` | $(awk '$1 == "micro-version" {print $2}' <<<"$counts") |"
  echo "| instructions: warm \`micro call\` | $(awk '$1 == "micro-call" {print $2}' <<<"$counts") |"
  echo "<!-- /peers -->"
} >"$work/peers.md"
if $only_peers; then
  python3 - "$out" "$work/peers.md" <<'PY'
import re, sys
out, frag = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
try:
    text = open(out).read()
except FileNotFoundError:
    text = ""
pattern = re.compile(r"<!-- peers:.*?<!-- /peers -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: frag, text)
else:
    text = text.rstrip("\n") + "\n\n" + frag + "\n"
open(out, "w").write(text)
PY
  log "wrote figures 9 and 10 to $out"
  exit 0
fi

go test -c -o "$bin/call.test" ./pkg/call
go test -c -o "$bin/broker.test" ./pkg/broker/nats
go test -c -o "$bin/figures.test" ./bench/figures
go test -c -o "$bin/mcp.test" ./pkg/mcp
go build -o "$bin/apiload" ./bench/apiload

# 1. Dynamic against static: BenchmarkUnaryPaired alternates the two on one
# connection and reports their throughput ratio.
log "1/7 dynamic calls against generated stubs"
cmd1="go test -run '^\$' -bench BenchmarkUnaryPaired -benchtime ${calls}x -count $reps ./pkg/call"
(cd pkg/call && "$bin/call.test" -test.run '^$' -test.bench BenchmarkUnaryPaired -test.benchtime "${calls}x" -test.count "$reps") >"$work/paired.txt"
prebuilt=$(median $(metric "$work/paired.txt" "prebuilt" throughput-ratio))
jsonratio=$(median $(metric "$work/paired.txt" "/json" throughput-ratio))
static_ns=$(median $(metric "$work/paired.txt" "prebuilt" static-ns/op))
dynamic_ns=$(median $(metric "$work/paired.txt" "prebuilt" dynamic-ns/op))
json_ns=$(median $(metric "$work/paired.txt" "/json" dynamic-ns/op))

# 2. micro call (warm descriptor cache) against micro version.
log "2/7 micro call against micro version"
if [[ -x bench/call.sh || -f bench/call.sh ]]; then
  cmd2="bench/call.sh -n 20"
  call_out=$(bash bench/call.sh -n 20 -b "$bin" 2>&1) || call_out="bench/call.sh failed: $call_out"
else
  cmd2="bench/call.sh (missing)"
  call_out="bench/call.sh is not in this tree: no figure"
fi

# 3. Publish: micro's broker against bare nats.go, alternated run by run.
log "3/7 publish against bare nats.go"
cmd3="go test -run '^\$' -bench 'BenchmarkPublish(Bare)?\$' -benchtime 200000x ./pkg/broker/nats   (x$reps, alternated)"
: >"$work/publish.txt"
for _ in $(seq "$reps"); do
  (cd pkg/broker/nats && "$bin/broker.test" -test.run '^$' -test.bench 'BenchmarkPublish$' -test.benchtime 200000x) >>"$work/publish.txt"
  (cd pkg/broker/nats && "$bin/broker.test" -test.run '^$' -test.bench 'BenchmarkPublishBare$' -test.benchtime 200000x) >>"$work/publish.txt"
done
pub_ns=$(median $(awk '$1 ~ /^BenchmarkPublish-/ {print $3}' "$work/publish.txt"))
bare_ns=$(median $(awk '$1 ~ /^BenchmarkPublishBare-/ {print $3}' "$work/publish.txt"))
# The ratio of each pair of runs (micro's throughput over bare nats.go's),
# then their median: pairs share whatever load the machine had.
pub_ratio=$(median $(awk '$1 ~ /^BenchmarkPublish-/ {p[++np]=$3} $1 ~ /^BenchmarkPublishBare-/ {b[++nb]=$3} END {for (i = 1; i <= np && i <= nb; i++) printf "%.4f\n", b[i]/p[i]}' "$work/publish.txt"))

# 4. Registry round trips per warm call.
log "4/7 registry round trips per call"
cmd4="go test -run '^\$' -bench BenchmarkRegistryRoundTrips -benchtime 5000x ./bench/figures"
(cd bench/figures && "$bin/figures.test" -test.run '^$' -test.bench BenchmarkRegistryRoundTrips -test.benchtime 5000x) >"$work/roundtrips.txt"
warm_rt=$(metric "$work/roundtrips.txt" RegistryRoundTrips registry-calls/op | head -1)
cold_rt=$(metric "$work/roundtrips.txt" RegistryRoundTrips cold-registry-calls | head -1)

# 5. From a node's SIGKILL to its last selection.
log "5/7 kill -9 to last selection (about 10 s per run)"
cmd5="go test -run '^\$' -bench BenchmarkKillToLastSelection -benchtime 3x ./bench/figures"
(cd bench/figures && "$bin/figures.test" -test.run '^$' -test.bench BenchmarkKillToLastSelection -test.benchtime 3x) >"$work/kill.txt"
kill_ms=$(metric "$work/kill.txt" KillToLastSelection kill-to-last-ms | head -1)
kill_ratio=$(metric "$work/kill.txt" KillToLastSelection ttl-ratio | head -1)
kill_failed=$(metric "$work/kill.txt" KillToLastSelection failed-calls/op | head -1)

# 6. micro bench through the registry against micro bench --address.
log "6/7 micro bench through the registry against --address"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export MICRO_REGISTRY=nats MICRO_REGISTRY_ADDRESS="127.0.0.1:$port" XDG_CACHE_HOME="$work/cache"
"$bin/micro" server --address "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
gport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MICRO_SERVER_ADDRESS="127.0.0.1:$gport" "$bin/greeter" 2>"$work/greeter.log" &
pids+=($!)
for _ in $(seq 100); do "$bin/micro" call greeter Greeter.Hello '{"name":"Ada"}' >/dev/null 2>&1 && break; sleep 0.1; done
cmd6="micro bench greeter Greeter.Hello '{\"name\":\"Ada\"}' -n 5000 -c 8 -o json   vs the same with --address 127.0.0.1:PORT   (x$reps, alternated)"
reg_rps=(); addr_rps=()
for _ in $(seq "$reps"); do
  reg_rps+=($("$bin/micro" bench greeter Greeter.Hello '{"name":"Ada"}' -n 5000 -c 8 -o json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))'))
  addr_rps+=($("$bin/micro" bench greeter Greeter.Hello '{"name":"Ada"}' -n 5000 -c 8 -o json --address "127.0.0.1:$gport" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))'))
done
reg_med=$(printf '%.0f' "$(median "${reg_rps[@]}")")
addr_med=$(printf '%.0f' "$(median "${addr_rps[@]}")")

# 7. MCP: tools/list for 100 and 1,000 registered services.
log "7/7 MCP tools/list for 100 and 1,000 services"
cmd7="go test -run '^\$' -bench BenchmarkMCPListTools -benchtime 20x ./pkg/mcp"
(cd pkg/mcp && "$bin/mcp.test" -test.run '^$' -test.bench BenchmarkMCPListTools -test.benchtime 20x) >"$work/mcp.txt"
mcp100_ns=$(awk '$1 ~ /services=100-/ {print $3}' "$work/mcp.txt")
mcp1000_ns=$(awk '$1 ~ /services=1000-/ {print $3}' "$work/mcp.txt")
mcp100_tools=$(metric "$work/mcp.txt" "services=100-" tools | head -1)
mcp1000_tools=$(metric "$work/mcp.txt" "services=1000-" tools | head -1)
mcp100_cold=$(metric "$work/mcp.txt" "services=100-" cold-sync-ms | head -1)
mcp1000_cold=$(metric "$work/mcp.txt" "services=1000-" cold-sync-ms | head -1)
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns/1e6 }'; }
# 8. The HTTP gateway against direct gRPC calls (its own servers).
log "8 micro api against micro bench (bench/api.sh)"
api_reps=7; [[ $reps -lt 5 ]] && api_reps=3
# 10000 requests a side: runs of 2000 calls last 0.2 s, and micro bench's
# ramp-up then weighs more on the direct side than the gateway's on its own.
cmd8="bench/api.sh -n 10000 -r $api_reps"
api_out=$(env -u MICRO_REGISTRY -u MICRO_REGISTRY_ADDRESS bash bench/api.sh -n 10000 -r "$api_reps" -b "$bin" 2>&1) || api_out="bench/api.sh failed: $api_out"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.3f", a/b }'; }
{
  echo "# micro performance figures"
  echo
  echo "Written by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%dT%H:%MZ), $(go version | cut -d' ' -f3), $(nproc) cores ($(uname -sm))."
  echo "Each figure is a ratio of two measurements taken side by side in the same run;"
  echo "absolute times are given for context only. Medians of $reps repetitions unless said."
  echo "Load average when the run started: $load_before (on a shared machine the ratios"
  echo "move by several percent from run to run; the raw output below shows the spread)."
  echo
  echo "| # | figure | ratio | measured |"
  echo "|---|---|---|---|"
  echo "| 1 | dynamic unary call throughput / generated stubs (prebuilt request) | **$prebuilt** | static ${static_ns} ns/op, dynamic ${dynamic_ns} ns/op |"
  echo "| 1b | same, request read from JSON and response written as JSON | **$jsonratio** | dynamic+JSON ${json_ns} ns/op |"
  echo "| 3 | micro publish throughput / bare nats.go | **$pub_ratio** | median of per-pair ratios; micro ${pub_ns} ns/op, bare ${bare_ns} ns/op (medians) |"
  echo "| 4 | registry round trips per call once warm (cold first call for reference) | **${warm_rt}** per call | first call: ${cold_rt} |"
  echo "| 5 | time from kill -9 of a node to its last selection / registration TTL (3 s) | **$kill_ratio** | ${kill_ms} ms (mean of 3), ${kill_failed} failed calls per run |"
  echo "| 6 | micro bench rps through registry + selector / same with --address | **$(ratio "$reg_med" "$addr_med")** | ${reg_med} rps vs ${addr_med} rps, -n 5000 -c 8 |"
  echo "| 7 | MCP tools/list time for 1,000 registered services / for 100 | **$(ratio "$mcp1000_ns" "$mcp100_ns")** | 100 services: ${mcp100_tools} tools in $(ms "$mcp100_ns") ms (first sync ${mcp100_cold} ms); 1,000: ${mcp1000_tools} tools in $(ms "$mcp1000_ns") ms (first sync ${mcp1000_cold} ms) |"
  echo
  echo "Figure 5 also counts the calls that failed after the kill (mean per run); see"
  echo "docs/performance.md, \"Known limits\", for the one failure mode seen."
  echo
  echo "Figure 2, a warm \`micro call\` against \`micro version\` (bench/call.sh, 20 interleaved runs):"
  echo
  echo '```'
  echo "$call_out"
  echo '```'
  echo
  echo "Figure 8, \`micro api\` (16 concurrent, access log on) against direct gRPC calls by \`micro bench -c 16\`"
  echo "on the same greeter, alternated run by run (bench/api.sh; target: each ratio >= 0.6):"
  echo
  echo '```'
  echo "$api_out"
  echo '```'
  echo
  cat "$work/peers.md"
  echo
  echo "## Commands"
  echo
  echo "Run from the repository root; \`make bench\` runs them all and rewrites this file."
  echo
  echo "1. \`$cmd1\`"
  echo "2. \`$cmd2\`"
  echo "3. \`$cmd3\`"
  echo "4. \`$cmd4\`"
  echo "5. \`$cmd5\`"
  echo "6. \`$cmd6\`"
  echo "7. \`$cmd7\`"
  echo "8. \`$cmd8\`"
  echo
  echo "## Raw output"
  echo
  echo '```'
  grep -h '^Benchmark' "$work/paired.txt" "$work/publish.txt" "$work/roundtrips.txt" "$work/kill.txt" "$work/mcp.txt"
  echo "micro bench rps through the registry: ${reg_rps[*]}"
  echo "micro bench rps with --address:       ${addr_rps[*]}"
  echo '```'
} >"$out"

# 11. Registry size against cost: NATS, Consul and etcd at 100, 1,000 and
# 10,000 nodes (bench/scale.sh, its own section, appended); -q measures
# 100 and 1,000 only.
log "11 registry size against cost (bench/scale.sh)"
scale_args=()
if [[ $reps -eq 2 ]]; then scale_args=(-q); fi
echo >>"$out"
bash bench/scale.sh "${scale_args[@]}" >>"$out"
log "wrote $out"
