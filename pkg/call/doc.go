// Package call makes dynamic gRPC calls: it calls any method of any service
// without generated code, reading requests from JSON and writing responses as
// JSON. It is the library under `micro call`, `micro stream` and
// `micro describe`, shaped like grpcurl's.
//
// A call has four parts:
//
//   - A DescriptorSource describes the services: NewReflectionSource asks
//     the server (reflection v1, or v1alpha for older servers),
//     NewProtoSource compiles .proto files, NewProtosetSource reads compiled
//     FileDescriptorSets, and NewCachedSource keeps what another source
//     fetched in a file keyed by service, version and descriptors
//     fingerprint, so that the next run asks the server nothing. FindMethod
//     resolves an endpoint ("Hello", "Greeter.Hello",
//     "greeter.v1.Greeter.Hello" or "greeter.v1.Greeter/Hello") to a
//     method.
//   - A RequestSupplier gives the requests: NewJSONSupplier reads JSON
//     values (one, NDJSON, or concatenated; objects, or the well-known
//     types' own forms) from a reader as they come; Messages gives
//     messages built beforehand.
//   - An EventHandler is told the headers, each response and the status
//     with the trailers; WriteResponses writes responses with a Formatter
//     (NewJSONFormatter: the protobuf JSON mapping, compact for NDJSON or
//     indented).
//   - Invoke makes the call, whatever its kind: unary, server streaming,
//     client streaming or bidirectional, sending and receiving at once for
//     the last. Messages go over the wire in the binary protobuf encoding,
//     as dynamic messages (dynamicpb).
//
// A call that fails returns an *RPCError that carries the status;
// DescribeStatus turns it into code, message and decoded details.
//
// Calls to services by name are pkg/client's: it picks a node through a
// selector, keeps one connection per node (dialled by pkg/transport/grpc,
// which fails fast with the real cause), resolves the method through
// reflection with the on-disk cache (or the files it is given), and fails
// over to another node only when the request cannot have reached a
// server. This package keeps what such a client needs of it per call: the
// trace hooks it reports its steps to (ClientTrace, WithTrace, TraceOf),
// the guard that fetches a cache entry of a node without a fingerprint
// again once when a request or response has fields it lacks (StaleGuard),
// and WantsMetadata. It imports neither pkg/client nor pkg/selector.
//
// JSON: ParseJSON reads the protobuf JSON mapping strictly (an unknown field
// or a value of the wrong type is a *JSONError naming where it is), with
// google.protobuf.Any resolved through a Resolver built on the source
// (NewResolver). On output an Any whose type nobody knows does not fail:
// it is written with its type URL and the base64 of its value (see
// UnknownAnyField).
//
// The package never prints and never reads the environment or flags: the
// command line passes everything in, including where the descriptor cache
// lives.
package call
