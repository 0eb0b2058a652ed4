# Shared by the bench scripts (source it from the repository root).

# build_micro OUT: builds micro at OUT as the Makefile's build does: without
# cgo (a static binary, with Go's own DNS resolver) and stripped. Keep it in
# step with MICRO_BUILD and LDFLAGS there; the start-up figures depend on it.
build_micro() { CGO_ENABLED=0 go build -ldflags '-s -w' -o "$1" .; }

# free_port: prints a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT: waits up to 10 s until 127.0.0.1:PORT accepts connections.
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "bench: nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# start_greeter WORK BINDIR: starts `micro server` (the NATS registry) and the
# example greeter registered in it, each on a free port of 127.0.0.1, with
# HOME and XDG_* inside WORK; appends their pids to the caller's pids array,
# exports MICRO_REGISTRY(_ADDRESS) and sets GREETER_ADDRESS. Returns once a
# call by name succeeds (which also warms the descriptor cache).
start_greeter() {
  local work=$1 bin=$2 port gport
  # Go's own directories stay where they were (they default to HOME's).
  GOPATH="$(go env GOPATH)" GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)"
  export GOPATH GOCACHE GOMODCACHE
  export HOME="$work/home" XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
  mkdir -p "$HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
  port=$(free_port)
  export MICRO_REGISTRY=nats MICRO_REGISTRY_ADDRESS="127.0.0.1:$port"
  "$bin/micro" server --address "127.0.0.1:$port" --data-dir "$work/nats" >"$work/server.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
  gport=$(free_port)
  GREETER_ADDRESS="127.0.0.1:$gport"
  MICRO_SERVER_ADDRESS="$GREETER_ADDRESS" "$bin/greeter" >"$work/greeter.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    "$bin/micro" call greeter Greeter.Hello '{"name":"Ada"}' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: the greeter did not answer through the registry; see $work/greeter.log" >&2
  return 1
}
