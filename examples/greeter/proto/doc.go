// Package greeterpb is the generated code for greeter.proto: the messages and
// the gRPC client and server of the greeter.v1.Greeter example service.
//
// greeter.pb.go and greeter_grpc.pb.go are generated; do not edit them. After
// changing greeter.proto, run `go generate ./examples/greeter/proto` from the
// repository root (it needs the Go toolchain and the module proxy, no protoc)
// and commit the result.
package greeterpb

//go:generate go run ../../../internal/cmd/protogen -I . -out . greeter.proto
