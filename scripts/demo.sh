#!/usr/bin/env bash
# The demo: micro on its embedded default, end to end.
#   1. micro server       (embedded NATS + JetStream on 127.0.0.1:4222)
#   2. two greeter instances register themselves
#   3. micro list services / micro get service greeter
#   3b. micro publish greeter.greeted: a subscriber prints it, a greeter handles it
#   4. micro call / stream / describe / health: every method kind of the greeter
#   5. one greeter is killed with SIGKILL: calls fail over to the other node,
#      micro health shows it unreachable, and it expires from the registry
# Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BIN:-bin}
micro="$bin/micro"
address=${MICRO_DEMO_ADDRESS:-127.0.0.1:4222}
data_dir="$(mktemp -d)"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$data_dir"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

export MICRO_REGISTRY=nats MICRO_REGISTRY_ADDRESS="$address"
export MICRO_REGISTER_TTL=3s MICRO_REGISTER_INTERVAL=1s MICRO_SERVER_ADDRESS=127.0.0.1:0
export XDG_CACHE_HOME="$data_dir/cache" # the demo's own descriptor cache

if (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null; then
  echo "demo: something already listens on $address; stop it, or run with MICRO_DEMO_ADDRESS=127.0.0.1:4333" >&2
  exit 1
fi

step micro server --address "$address" --data-dir "$data_dir"
"$micro" server --address "$address" --data-dir "$data_dir" &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null && break
  sleep 0.1
done

step "greeter &   # twice"
"$bin/greeter" 2>"$data_dir/greeter-1.log" &
first=$!
pids+=($first)
"$bin/greeter" 2>"$data_dir/greeter-2.log" &
pids+=($!)

wait_for_nodes() { # wait_for_nodes N
  for _ in $(seq 100); do
    if "$micro" get service greeter -o json 2>/dev/null | grep -c '"address"' | grep -qx "$1"; then return 0; fi
    sleep 0.2
  done
  echo "demo: greeter never had $1 node(s)" >&2
  return 1
}
wait_for_nodes 2

step micro list services
"$micro" list services -o table

step micro get service greeter
"$micro" get service greeter -o table

step "micro subscribe greeter.greeted --count 1 &   # beside the greeters, which share the topic in a queue group"
"$micro" subscribe greeter.greeted --count 1 --timeout 10s >"$data_dir/subscribe.out" 2>"$data_dir/subscribe.err" &
subscriber=$!
pids+=($subscriber)
for _ in $(seq 100); do
  grep -q 'subscribed to' "$data_dir/subscribe.err" && break
  sleep 0.05
done

step "micro publish greeter.greeted '{\"name\":\"Ada\"}'"
"$micro" publish greeter.greeted '{"name":"Ada"}'
wait "$subscriber" && cat "$data_dir/subscribe.out"

step "grep 'handled event' greeter-*.log   # one of the greeters handled it"
handled=""
for _ in $(seq 50); do
  handled=$(grep -h 'msg="handled event"' "$data_dir"/greeter-*.log || true)
  [[ -n "$handled" ]] && break
  sleep 0.1
done
if [[ -z "$handled" ]]; then
  echo "demo: no greeter handled the event" >&2
  exit 1
fi
echo "$handled"

step "micro call greeter Greeter.Hello '{\"name\":\"Ada\"}'   # unary"
"$micro" call greeter Greeter.Hello '{"name":"Ada"}'

step "micro call greeter Greeter.Hello ... -H x-user:ada -v   # the second call reads the descriptor cache"
"$micro" call greeter Greeter.Hello '{"name":"Ada","mood":"MOOD_HAPPY"}' -H x-user:ada -v

step "micro call greeter Greeter.Stream '{\"name\":\"Ada\",\"count\":3}' -o json   # server streaming"
"$micro" call greeter Greeter.Stream '{"name":"Ada","count":3}' -o json

step "printf '{\"name\":\"Ann\"}\\n{\"name\":\"Ben\"}\\n' | micro stream greeter Greeter.Collect   # client streaming"
printf '{"name":"Ann"}\n{"name":"Ben"}\n' | "$micro" stream greeter Greeter.Collect

step "micro stream greeter Greeter.Chat '{\"name\":\"Ann\"}' '{\"name\":\"Ben\",\"mood\":\"MOOD_GRUMPY\"}' -o json   # bidi streaming"
"$micro" stream greeter Greeter.Chat '{"name":"Ann"}' '{"name":"Ben","mood":"MOOD_GRUMPY"}' -o json

step "micro call greeter Greeter.Hello '{\"name\":\"\"}'   # a failed call exits 64 + its status code"
"$micro" call greeter Greeter.Hello '{"name":""}' || echo "(exit $?)"

step micro describe greeter Greeter.Chat
"$micro" describe greeter Greeter.Chat

step micro health greeter
"$micro" health greeter -o table

step "kill -9 greeter (first instance); it stays registered until its TTL (3s) expires"
kill -9 "$first"

step "micro call greeter Greeter.Hello ...   # x3: a call that picks the dead node fails over"
for _ in 1 2 3; do "$micro" call greeter Greeter.Hello '{"name":"Ada"}' -o json; done

step "micro health greeter   # exits 1 while the dead node is registered"
"$micro" health greeter -o table || echo "(exit $?)"

wait_for_nodes 1
"$micro" list services -o table

printf '\ndemo: done\n'
