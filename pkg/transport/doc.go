// Package transport moves one request to one node and brings its answer
// back, or opens a stream: the Transport of the architecture, below the
// client that picks the node (pkg/client) and above the wire.
//
// Two implementations live in the sub-packages:
//
//   - grpc: HTTP/2 gRPC with TLS and every stream kind; what services built
//     on pkg/service speak, and what nodes that advertise nothing speak.
//   - http: go-micro's mucp over HTTP, what a default go-micro service
//     speaks: a POST to the node with the target in Micro-Service and
//     Micro-Endpoint, the body in the codec named by Content-Type, and
//     errors as go-micro's JSON error, mapped to the nearest gRPC code.
//
// Bodies cross a transport already encoded (see pkg/codec); a transport
// only frames them. Errors say whether the request could have reached a
// server: a *ConnectError never did, so a client may try another node; an
// *Error is the server's answer.
//
// transporttest holds the contract every transport passes.
package transport
