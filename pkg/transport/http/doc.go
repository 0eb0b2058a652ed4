// Package http is go-micro's HTTP transport with its mucp protocol, the
// way a default go-micro service (server "mucp", transport "http") is
// called:
//
//   - each request is an HTTP/1.1 POST to the node's address (keep-alive
//     connections are reused);
//   - the target is in the Micro-Service and Micro-Endpoint headers
//     (Micro-Method too, for older servers), a request id in Micro-Id, the
//     deadline in Timeout (nanoseconds), the caller's metadata as headers;
//   - Content-Type names the codec of the body: application/json and
//     application/protobuf carry the message as it is; application/json-rpc
//     and application/proto-rpc wrap it in go-micro's envelopes (see
//     pkg/codec), which older clients use;
//   - a server error comes back in the Micro-Error header (or as the body
//     of a non-200 answer) as go-micro's JSON error {id, code, detail,
//     status}; it becomes a *transport.Error whose gRPC code is the nearest
//     one to go-micro's HTTP-style code, so a failed call exits 64 + code
//     as gRPC calls do.
//
// go-micro frames streams over this transport as a sequence of requests on
// a hijacked connection; this package does not speak that: NewStream fails
// with transport.ErrStreamsUnsupported and names the node.
package http
