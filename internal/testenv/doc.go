// Package testenv starts the real servers that tests run against: a Consul
// agent binary bound to 127.0.0.1, an etcd server (one member or a cluster,
// from Debian's etcd-server), an embedded NATS server, and a PKI
// (NewPKI) for TLS and mutual TLS servers. Each helper picks
// free ports, keeps its state in a temporary directory and stops when the test
// ends. A helper whose dependency cannot be had skips the test, or fails it
// in CI (CI=true or CI=1, see InCI), so a missing dependency never passes
// silently in CI.
package testenv
