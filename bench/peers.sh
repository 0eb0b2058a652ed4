#!/usr/bin/env bash
# micro against the programs it is compared with (issue 15), every figure a
# ratio of two sides alternated run by run in this run, on this machine:
#
#   A. `micro version` / a Go hello-world binary (wall time)
#   B. a warm `micro call` by name through the registry / grpcurl -protoset
#      on the same greeter method (wall time)
#   A and B also measure the dependency floor (bench/depfloor.sh: a program
#   that links every package micro imports from other modules and prints a
#   line): the least any micro command can start in while they are linked,
#   against hello-world (A) and grpcurl (B)
#   C. the phases `micro call -v` reports (select, connect, resolve, call),
#      beside what a loopback round trip costs here (bench/natsrtt: a fresh
#      nats.go connection to the same NATS server, and one PING/PONG on it)
#   D. `micro bench --address` / grpc-go's benchmark client (rps), both
#      against grpc-go's benchmark server, 1 connection x 16 concurrent,
#      1-byte payloads
#   E. `micro bench --address` / ghz (rps), same server, -c 16, 1 connection
#
# Prints a Markdown fragment (a table, then the commands and raw figures) for
# bench/run.sh to put into bench/RESULTS.md.
#
#   bench/peers.sh [-b BINDIR] [-n RUNS] [-z SECONDS] [-f FIGURES]
#     BINDIR holds micro and greeter (built when absent); RUNS wall-time pairs
#     (default 20); each rate run lasts SECONDS (default 3), RUNS/4 pairs;
#     FIGURES the letters of the figures to measure (default ABCDE; -f A
#     measures only the start-up figure, with neither servers nor peers).
# The peers come from bench/install-peers.sh (the Go module proxy, cached).
set -euo pipefail
bin=""
runs=20
secs=3
figures=ABCDE
while [[ $# -gt 0 ]]; do
  case "$1" in
    -b) bin=$2; shift 2 ;;
    -n) runs=$2; shift 2 ;;
    -z) secs=$2; shift 2 ;;
    -f) figures=$2; shift 2 ;;
    *) echo "usage: $0 [-b BINDIR] [-n RUNS] [-z SECONDS] [-f FIGURES]" >&2; exit 2 ;;
  esac
done
if [[ ! "$figures" =~ ^[A-E]+$ ]]; then
  echo "usage: $0 [-f FIGURES]: FIGURES are letters A to E, such as ABCDE or A; have \"$figures\"" >&2
  exit 2
fi
# fig X: whether figure X is to be measured.
fig() { [[ "$figures" == *"$1"* ]]; }
# peers_needed: whether a figure other than A (which compares with a
# hello-world built here) is to be measured.
peers_needed() { [[ "$figures" =~ [B-E] ]]; }
rate_runs=$(( runs / 4 > 1 ? runs / 4 : 2 ))
cd "$(dirname "$0")/.."
root=$(pwd)
. bench/lib.sh
peers=""
if peers_needed; then
  peers="$(bash bench/install-peers.sh)"
fi
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
: >"$work/raw.txt"
log() { echo "bench: $*" >&2; }
if [[ -z "$bin" ]]; then
  bin="$work/bin"
  build_micro "$bin/micro"
  go build -o "$bin/greeter" ./examples/greeter
fi
# The hello-world baseline, built by the same Go.
mkdir -p "$work/hello"
printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }\n' >"$work/hello/main.go"
(cd "$work/hello" && GOFLAGS= go mod init hello >/dev/null 2>&1 && go build -o "$work/hello/hello" .)
floor="$work/depfloor"
if fig A || fig B; then
  bash bench/depfloor.sh "$floor"
fi
m="$bin/micro"
req='{"name":"Ada"}'
if peers_needed; then
  go run ./bench/grpcprotoset "$work/grpcbench.protoset"
  start_greeter "$work" "$bin"
  "$peers/grpcurl" -plaintext -protoset-out "$work/greeter.protoset" "$GREETER_ADDRESS" describe greeter.v1.Greeter >/dev/null
fi
j() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@"; }
alt() { python3 "$root/bench/alternate.py" "$@" 2>>"$work/raw.txt"; }

if fig A; then
  log "A. micro version / hello world ($runs pairs)"
  echo "A. micro version vs hello-world (ms):" >>"$work/raw.txt"
  read -r ver_ms hello_ms ver_ratio < <(alt time "$runs" "$(j "$m" version)" "$(j "$work/hello/hello")")
  echo "A0. dependency floor vs hello-world (ms):" >>"$work/raw.txt"
  read -r floor_ms hello0_ms floor_ratio < <(alt time "$runs" "$(j "$floor")" "$(j "$work/hello/hello")")
fi

if fig B; then
  log "B. warm micro call / grpcurl ($runs pairs)"
  echo "B. micro call vs grpcurl (ms):" >>"$work/raw.txt"
  read -r call_ms grpcurl_ms call_ratio < <(alt time "$runs" \
    "$(j "$m" call greeter Greeter.Hello "$req")" \
    "$(j "$peers/grpcurl" -plaintext -protoset "$work/greeter.protoset" -d "$req" "$GREETER_ADDRESS" greeter.v1.Greeter/Hello)")
  echo "B0. dependency floor vs grpcurl (ms):" >>"$work/raw.txt"
  read -r floor_b_ms grpcurl0_ms floor_b_ratio < <(alt time "$runs" "$(j "$floor")" \
    "$(j "$peers/grpcurl" -plaintext -protoset "$work/greeter.protoset" -d "$req" "$GREETER_ADDRESS" greeter.v1.Greeter/Hello)")
fi

if fig C; then
  log "C. micro call -v phases ($runs runs)"
  for _ in $(seq "$runs"); do
    "$m" call -v greeter Greeter.Hello "$req" 2>&1 >/dev/null | sed -n 's/^\* time: //p'
  done >"$work/phases.txt"
  phases=$(python3 - "$work/phases.txt" <<'PY'
import re, statistics, sys
cols = {}
for line in open(sys.argv[1]):
    for name, ms in re.findall(r"(\w+) ([0-9.]+)ms", line):
        cols.setdefault(name, []).append(float(ms))
print(" / ".join("%s %.2f" % (k, statistics.median(v)) for k, v in cols.items()) + " ms")
PY
  )
  go build -o "$work/natsrtt" ./bench/natsrtt
  roundtrips=$("$work/natsrtt" -server "nats://$MICRO_REGISTRY_ADDRESS" -n "$runs")
fi

if fig D || fig E; then
  # grpc-go's benchmark server listens on :PORT (its own flag); the clients
  # reach it on loopback. exec: the pid kept is the server's, so that the
  # cleanup stops it (it was left running after every run).
  bport=$(free_port)
  (cd "$work" && exec "$peers/grpc-bench-server" -port "$bport" -test_name micro-bench >"$work/bench-server.log" 2>&1) &
  pids+=($!)
  wait_port "$bport"
  breq='{"responseType":"COMPRESSABLE","responseSize":1,"payload":{"type":"COMPRESSABLE","body":"AA=="}}'
  micro_bench=("$m" bench --address "127.0.0.1:$bport" --protoset "$work/grpcbench.protoset" grpc-benchmark grpc.testing.BenchmarkService.UnaryCall "$breq" -c 16 --connections 1 -z "${secs}s" -n 100000000 --no-progress -o json)
  rps_re='"rps": *([0-9.e+]+)'

  if fig D; then
    log "D. micro bench / grpc-go benchmark client ($rate_runs pairs of ${secs}s)"
    echo "D. micro bench rps vs grpc-go benchmark client qps:" >>"$work/raw.txt"
    read -r mb_rps gb_qps grpc_ratio < <(cd "$work" && alt rate "$rate_runs" "$(j "${micro_bench[@]}")" \
      "$(j "$peers/grpc-bench-client" -port "$bport" -c 1 -r 16 -req 1 -resp 1 -rpc_type unary -w 1 -d "$secs" -test_name micro-bench)" \
      "$rps_re" 'qps: *([0-9.e+]+)')
  fi

  if fig E; then
    log "E. micro bench / ghz ($rate_runs pairs of ${secs}s)"
    echo "E. micro bench rps vs ghz rps:" >>"$work/raw.txt"
    read -r mb2_rps ghz_rps ghz_ratio < <(alt rate "$rate_runs" "$(j "${micro_bench[@]}")" \
      "$(j "$peers/ghz" --insecure --protoset "$work/grpcbench.protoset" --call grpc.testing.BenchmarkService.UnaryCall -d "$breq" -c 16 --connections 1 -z "${secs}s" -n 100000000 --format json "127.0.0.1:$bport")" \
      "$rps_re" '"rps": *([0-9.e+]+)')
  fi
fi

verdict() { awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == "<=") ? (r <= t) : (r >= t); print ok ? "met" : "**missed**" }'; }
echo "| figure | ratio | target | measured |"
echo "|---|---|---|---|"
fig A && echo "| A. \`micro version\` wall time / Go hello-world | **$ver_ratio** | ≤ 3 ($(verdict "$ver_ratio" "<=" 3)) | $ver_ms ms vs $hello_ms ms (medians of $runs pairs) |"
fig A && echo "| A0. dependency floor (bench/depfloor.sh) / Go hello-world | **$floor_ratio** | the least A can be | $floor_ms ms vs $hello0_ms ms (medians of $runs pairs) |"
fig B && echo "| B. warm \`micro call\` by name through the registry / \`grpcurl -plaintext -protoset\` | **$call_ratio** | ≤ 0.5 ($(verdict "$call_ratio" "<=" 0.5)) | $call_ms ms vs $grpcurl_ms ms (medians of $runs pairs) |"
fig B && echo "| B0. dependency floor / the same grpcurl call | **$floor_b_ratio** | the least B can be | $floor_b_ms ms vs $grpcurl0_ms ms (medians of $runs pairs) |"
fig C && echo "| C. \`micro call -v\` phases (medians of $runs calls) | — | each near one loopback round trip | $phases; against the NATS registry's server here: $roundtrips |"
fig D && echo "| D. \`micro bench\` rps / grpc-go benchmark client qps, 1 connection × 16, 1-byte payloads | **$grpc_ratio** | ≥ 0.9 ($(verdict "$grpc_ratio" ">=" 0.9)) | $mb_rps vs $gb_qps (medians of $rate_runs pairs of ${secs}s) |"
fig E && echo "| E. \`micro bench\` rps / ghz rps, same server, -c 16 | **$ghz_ratio** | ≥ 1.5 ($(verdict "$ghz_ratio" ">=" 1.5)) | $mb2_rps vs $ghz_rps (medians of $rate_runs pairs of ${secs}s) |"
echo
echo "Ratios are medians of the per-pair ratios; the sides of each pair ran one after"
if peers_needed; then
  echo "the other. Peers: $(basename "$peers")."
else
  echo "the other."
fi
echo
echo "Commands (PORT: free ports on 127.0.0.1; protosets written by grpcurl -protoset-out and by \`go run ./bench/grpcprotoset\`):"
echo
fig A && echo "- A. \`micro version\` vs \`hello\` (\`fmt.Println\`, same Go)"
fig A && echo "- A0, B0. \`bash bench/depfloor.sh depfloor\` builds the floor: every package micro's packages import from other modules, linked (each imported for its initialisation), and a \`main\` that prints one line; Go initialises every linked package before \`main\`, whatever the command"
fig B && echo "- B. \`micro call greeter Greeter.Hello '$req'\` vs \`grpcurl -plaintext -protoset greeter.protoset -d '$req' 127.0.0.1:PORT greeter.v1.Greeter/Hello\`"
fig C && echo "- C. \`micro call -v greeter Greeter.Hello '$req'\`, the \`* time:\` line; \`natsrtt -server nats://ADDRESS -n $runs\` (bench/natsrtt) beside it: a fresh nats.go connection to the registry's server (TCP connect, INFO, CONNECT, PING and PONG) and one PING/PONG on it, the parts of a registry read, and the process's first connection alone, which pays what the one \`micro call\` makes pays"
fig D && echo "- D. \`micro bench --address 127.0.0.1:PORT --protoset grpcbench.protoset grpc-benchmark grpc.testing.BenchmarkService.UnaryCall '$breq' -c 16 --connections 1 -z ${secs}s -n 100000000 --no-progress -o json\` vs \`grpc-bench-client -port PORT -c 1 -r 16 -req 1 -resp 1 -rpc_type unary -w 1 -d $secs\` against \`grpc-bench-server -port PORT\`"
fig E && echo "- E. the same \`micro bench\` vs \`ghz --insecure --protoset grpcbench.protoset --call grpc.testing.BenchmarkService.UnaryCall -d '$breq' -c 16 --connections 1 -z ${secs}s 127.0.0.1:PORT\`"
echo
echo '```'
cat "$work/raw.txt"
echo '```'
