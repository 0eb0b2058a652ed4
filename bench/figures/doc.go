// Package figures holds benchmarks that measure micro end to end for
// bench/RESULTS.md: registry round trips per call once the selector is warm,
// and the time from a node's SIGKILL to the last call the selector sends to
// it. They start real servers (an embedded NATS server, greeter processes),
// so they run under `make bench`, never under `make test`.
package figures
