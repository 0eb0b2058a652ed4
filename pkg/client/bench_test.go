package client_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// BenchmarkClientCall calls Hello by name through a Client, as `micro
// bench` does: node choice, the pooled connection, the request replay and
// the failover bookkeeping on every call, with JSON in and out. The
// descriptors come from the .proto file, so that no reflection is timed.
// Its allocs/op is the figure to watch when the client's hot path changes.
func BenchmarkClientCall(b *testing.B) {
	c, _ := benchClient(b)
	resolver := c.Resolver("greeter")
	handler := call.WriteResponses(io.Discard, call.NewJSONFormatter(resolver, call.FormatOptions{}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		supplier := call.NewJSONSupplier(strings.NewReader(`{"name":"Ada"}`), resolver)
		if err := c.Call(ctx, "greeter", "Greeter.Hello", supplier, handler); err != nil {
			b.Fatal(err)
		}
	}
}

// benchClient serves a greeter registered in a memory registry and returns
// a Client over it with the greeter's .proto file as its descriptors.
func benchClient(b *testing.B) (*client.Client, call.DescriptorSource) {
	b.Helper()
	reg := memory.New()
	b.Cleanup(func() { _ = reg.Close() })
	startBenchGreeter(b, reg)
	src, err := call.NewProtoSource(context.Background(), []string{"../../examples/greeter/proto"}, "greeter.proto")
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(client.Options{Registry: reg, Source: src})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c, src
}

// startBenchGreeter serves the greeter on 127.0.0.1 and registers it in reg.
func startBenchGreeter(b *testing.B, reg registry.Registry) {
	b.Helper()
	server := grpctest.StartGreeter(b, false)
	svc := &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: "greeter-1", Address: server.Addr}}}
	if err := reg.Register(context.Background(), svc, registry.NoExpiry()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkClientCallPrebuilt is the call `micro bench` makes for a request
// that is no template: the request encoded once, the response counted and
// not decoded, the node told to a trace.
func BenchmarkClientCallPrebuilt(b *testing.B) {
	c, src := benchClient(b)
	ctx := context.Background()
	method, err := call.FindMethod(ctx, src, "greeter", "Greeter.Hello")
	if err != nil {
		b.Fatal(err)
	}
	request, err := call.NewJSONSupplier(strings.NewReader(`{"name":"Ada"}`), c.Resolver("greeter"))(dynamicpb.NewMessageType(method.Input()))
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := call.Encode(request)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sent := false
		supplier := func(protoreflect.MessageType) (proto.Message, error) {
			if sent {
				return nil, io.EOF
			}
			sent = true
			return encoded, nil
		}
		var node *registry.Node
		trace := &call.ClientTrace{NodeSelected: func(selected *registry.Node, _ string) { node = selected }}
		if err := c.Call(ctx, "greeter", "Greeter.Hello", supplier, nil, call.WithTrace(trace), call.WithoutDecodingResponses()); err != nil {
			b.Fatal(err)
		}
		if node == nil {
			b.Fatal("no node selected")
		}
	}
}

// BenchmarkStubCall is the baseline of BenchmarkClientCallPrebuilt: the
// same greeter called with its generated stub over a plain gRPC
// connection, as grpc-go's own benchmark client calls (no deadline, no
// stats handler). The gap between the two is the cost of calling by name.
func BenchmarkStubCall(b *testing.B) {
	server := grpctest.StartGreeter(b, false)
	conn, err := grpc.NewClient(server.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	stub := greeterpb.NewGreeterClient(conn)
	ctx := context.Background()
	req := &greeterpb.HelloRequest{Name: "Ada"}
	if _, err := stub.Hello(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stub.Hello(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
