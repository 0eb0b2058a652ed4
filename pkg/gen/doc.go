// Package gen turns .proto files into Go code without protoc or any plugin
// installed: it compiles the files in process with
// github.com/bufbuild/protocompile (the well-known google/protobuf/*.proto
// imports are built in), builds the CodeGeneratorRequest protoc would send
// a plugin, and runs two generators over it in process:
//
//   - protoc-gen-go's own generator (google.golang.org/protobuf's
//     internal_gengo), at the protobuf version this module is built with,
//     so NAME.pb.go is byte for byte what protoc-gen-go writes;
//   - GenerateGRPC, ours, which writes NAME_grpc.pb.go with the API of
//     protoc-gen-go-grpc GRPCPluginVersion (generic streams,
//     Unimplemented*Server embedded by value, require_unimplemented_servers
//     on). Apart from its first lines, which say micro wrote it, the file is
//     byte for byte what that plugin writes.
//
// Output paths are source relative (protoc's paths=source_relative): the
// code for orders/v1/orders.proto is orders/v1/orders.pb.go under the
// directory the .proto was found in. The output depends only on the input
// files and the versions linked into the binary, so generating twice gives
// the same bytes.
//
// `micro gen` is the command built on this package; `micro new` uses it to
// put the generated code of a new service in place.
package gen
