// Command protogen generates Go code from .proto files without protoc, for
// the repository's own examples. It compiles the files with
// github.com/bufbuild/protocompile (the well-known imports such as
// google/protobuf/timestamp.proto are built in), builds the
// CodeGeneratorRequest protoc would build, and runs the protoc-gen-go and
// protoc-gen-go-grpc plugins over stdin and stdout, so the output is byte for
// byte what those plugins write.
//
// The plugins are installed with `go install` into a temporary directory:
// protoc-gen-go at the google.golang.org/protobuf version this module
// requires, protoc-gen-go-grpc at -grpc-plugin-version. With -plugin-dir the
// plugins already in that directory are used instead and nothing is
// installed.
//
// Usage (run from the directory holding the .proto files):
//
//	go run ../../../internal/cmd/protogen -I . -out . greeter.proto
//
// It is a development tool only; `micro gen` is the user-facing generator.
package main
