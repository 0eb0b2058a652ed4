// Package grpc is the gRPC transport: HTTP/2 in plaintext or TLS (with
// client certificates), every stream kind, what services built on
// pkg/service speak and what a node that advertises no transport is taken
// to speak.
//
// Dial connects and waits until the connection is ready, failing at once
// with the real cause (a refused connection, a failed name lookup, a TLS
// handshake error, a server that does not speak HTTP/2) as a
// *transport.ConnectError. Conn.Call and Conn.NewStream move encoded
// protobuf; Conn.ClientConn gives the gRPC connection itself for dynamic
// messages and generated stubs.
package grpc
