// Command grpcprotoset writes a FileDescriptorSet of grpc-go's benchmark
// service (grpc.testing.BenchmarkService, the service that
// google.golang.org/grpc/benchmark/server serves) with every file it
// imports, so that micro and grpcurl can call that server, which serves no
// reflection. The descriptors come from the generated code of the grpc
// module go.mod names, so they match the server exactly.
//
//	go run ./bench/grpcprotoset FILE
package main

import (
	"fmt"
	"os"

	"google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/pkg/call"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: grpcprotoset FILE")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "grpcprotoset:", err)
		os.Exit(1)
	}
}

func write(path string) error {
	// Dependencies first, as protoc writes them.
	set := call.DescriptorSetOf(grpc_testing.File_grpc_testing_benchmark_service_proto)
	data, err := proto.Marshal(set)
	if err != nil {
		return fmt.Errorf("marshal the descriptor set: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
