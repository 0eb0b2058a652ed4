// Package client calls services by name: the Client of the architecture.
// It finds the nodes of a service in the registry through a selector
// (strategies, filters, ejection of nodes that cannot be reached), chooses
// the transport of each node from its metadata ("protocol", "server",
// "transport", as go-micro writes them; a node that says nothing speaks
// gRPC), keeps one connection per node, and fails over to another node
// only when the request cannot have reached a server.
//
// It holds the parts of a call that span nodes: the node choice, the pool
// of connections (made by pkg/transport/grpc's Dial, the one dialler of
// gRPC nodes), the replay of a call's requests to another node, and the
// one rule of failover (retry.go: a call goes elsewhere only when its
// request cannot have reached a server, or when its method declares
// idempotency_level and had no response before Unavailable). What a call
// does on one connection is pkg/call's: descriptors from reflection, a
// cache, or files; JSON to messages and back; every stream kind; and the
// per-call trace hooks (call.ClientTrace) that Call reports its steps to.
// Imports run one way: this package imports pkg/call, pkg/transport,
// pkg/selector and pkg/registry, and none of them imports it.
//
// Nodes of default go-micro services are called through go-micro's mucp
// over HTTP (pkg/transport/http), with JSON as it is (CallJSON: go-micro
// endpoints often have no proto, their registry record describes them) or
// protobuf when descriptors are given (Call).
//
// For code, Dial returns a grpc.ClientConnInterface for generated stubs
// ("micro:///greeter"), balanced over the nodes the registry watch
// reports, with the same strategies, filters and failover rule.
package client
