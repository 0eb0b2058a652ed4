// Package client calls services by name: the Client of the architecture.
// It finds the nodes of a service in the registry through a selector
// (strategies, filters, ejection of nodes that cannot be reached), chooses
// the transport of each node from its metadata ("protocol", "server",
// "transport", as go-micro writes them; a node that says nothing speaks
// gRPC), keeps one connection per node, and fails over to another node
// only when the request cannot have reached a server.
//
// gRPC nodes are called through pkg/call (descriptors from reflection, a
// cache, or files; every stream kind); nodes of default go-micro services
// through go-micro's mucp over HTTP (pkg/transport/http), with JSON as it
// is (CallJSON: go-micro endpoints often have no proto, their registry
// record describes them) or protobuf when descriptors are given (Call).
//
// For code, Dial returns a grpc.ClientConnInterface for generated stubs
// ("micro:///greeter"), balanced over the nodes the registry watch
// reports, with the same strategies, filters and failover rule.
package client
