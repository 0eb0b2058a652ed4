#!/usr/bin/env bash
# micro's publish path against a bare nats.go publish loop, in the same run:
# BenchmarkPublish and BenchmarkPublishBare of pkg/broker/nats, one after
# the other (alternating which goes first), COUNT rounds; then the median
# ns/op of each and their ratio.
#   bench/publish.sh [-n COUNT] [-t BENCHTIME]      (defaults: 10, 1s)
# Prints:
#   micro  <median> ns/op (<N> runs)
#   bare   <median> ns/op (<N> runs)
#   ratio  <micro/bare> (micro's publish costs this many times a bare one)
set -euo pipefail
count=10
benchtime=1s
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) count=$2; shift 2 ;;
    -t) benchtime=$2; shift 2 ;;
    *) echo "usage: $0 [-n COUNT] [-t BENCHTIME]" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/nats.test" ./pkg/broker/nats

# Each round runs both, back to back, so that the two share whatever the
# machine is doing at the time; the order alternates from round to round so
# that neither always goes first.
bench() {
  "$work/nats.test" -test.run '^$' -test.bench "^$1\$" -test.benchtime "$benchtime" -test.count 1 >>"$work/out.txt"
}
for i in $(seq "$count"); do
  if (( i % 2 )); then
    bench BenchmarkPublish; bench BenchmarkPublishBare
  else
    bench BenchmarkPublishBare; bench BenchmarkPublish
  fi
  printf '.' >&2
done
echo >&2

awk '
  $1 ~ /^BenchmarkPublish(Bare)?(-[0-9]+)?$/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 2; i <= NF; i++) if ($(i+1) == "ns/op") { v[name] = v[name] " " $i }
  }
  function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    if (v["BenchmarkPublish"] == "" || v["BenchmarkPublishBare"] == "") { print "bench/publish.sh: no results" > "/dev/stderr"; exit 1 }
    m = median(v["BenchmarkPublish"]); b = median(v["BenchmarkPublishBare"])
    n = split(v["BenchmarkPublish"], tmp, " ")
    printf "micro  %.1f ns/op (%d runs)\n", m, n
    printf "bare   %.1f ns/op (%d runs)\n", b, n
    printf "ratio  %.3f (micro/bare: micro'"'"'s publish costs this many times a bare nats.go one)\n", m / b
  }' "$work/out.txt"
