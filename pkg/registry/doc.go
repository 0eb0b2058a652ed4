// Package registry describes where services run: the Registry interface, the
// one record shape every backend shares (Service, Node, Endpoint) and the
// events a watch reports.
//
// Implementations live in sub-packages: consul (a Consul agent), etcd (an
// etcd cluster, reading go-micro, kratos and go-zero records too), nats
// (JetStream key-value, the embedded default) and memory (in-process, for
// tests). A registration carries a TTL; a record that is not registered again
// within its TTL expires, so a node that dies without deregistering disappears
// on its own. pkg/service keeps its record alive with a heartbeat.
package registry
