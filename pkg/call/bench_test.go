package call_test

import (
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// benchSetup starts a greeter on 127.0.0.1 and resolves Hello once, as a
// command that calls many times would.
func benchSetup(b *testing.B) (*grpc.ClientConn, protoreflect.MethodDescriptor) {
	b.Helper()
	server := grpctest.StartGreeter(b, false)
	conn := dial(b, server.Addr, grpctransport.DialOptions{})
	method, err := call.FindMethod(testContext(b), greeterProtoSource(b), "greeter", "Greeter.Hello")
	if err != nil {
		b.Fatal(err)
	}
	return conn, method
}

// BenchmarkUnaryStatic calls Hello through the generated client: the
// baseline.
func BenchmarkUnaryStatic(b *testing.B) {
	conn, _ := benchSetup(b)
	client := greeterpb.NewGreeterClient(conn)
	req := &greeterpb.HelloRequest{Name: "Ada"}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		resp, err := client.Hello(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.GetMessage() != "Hello Ada" {
			b.Fatalf("response %q", resp.GetMessage())
		}
	}
}

// BenchmarkUnaryDynamic calls Hello through Invoke with dynamic messages:
// with a request built beforehand, and with JSON in and JSON out as the
// command line does.
func BenchmarkUnaryDynamic(b *testing.B) {
	b.Run("prebuilt", func(b *testing.B) {
		conn, method := benchSetup(b)
		req := dynamicpb.NewMessage(method.Input())
		req.Set(method.Input().Fields().ByName("name"), protoreflect.ValueOfString("Ada"))
		ctx := context.Background()
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if err := call.Invoke(ctx, conn, method, call.Messages(req), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		conn, method := benchSetup(b)
		resolver := call.NewResolver(context.Background(), nil)
		handler := call.WriteResponses(io.Discard, call.NewJSONFormatter(resolver, call.FormatOptions{}))
		ctx := context.Background()
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			supplier := call.NewJSONSupplier(strings.NewReader(`{"name":"Ada"}`), resolver)
			if err := call.Invoke(ctx, conn, method, supplier, handler); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU reports the CPU time the process (client and server) spent per
// call, a steadier measure than wall time on a busy machine. Call the function
// it returns when the loop is over.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((processCPU(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU(b *testing.B) time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// BenchmarkUnaryPaired alternates a static call and a dynamic one on the
// same connection and times each, so that both see the same load: on a
// shared machine the ratio it reports is steadier than that of two separate
// benchmarks. throughput-ratio is dynamic calls per second over static ones.
// "prebuilt" sends a request built beforehand; "json" reads the request
// from JSON and writes the response as JSON, as the command line does.
func BenchmarkUnaryPaired(b *testing.B) {
	conn, method := benchSetup(b)
	client := greeterpb.NewGreeterClient(conn)
	static := &greeterpb.HelloRequest{Name: "Ada"}
	prebuilt := dynamicpb.NewMessage(method.Input())
	prebuilt.Set(method.Input().Fields().ByName("name"), protoreflect.ValueOfString("Ada"))
	resolver := call.NewResolver(context.Background(), nil)
	handler := call.WriteResponses(io.Discard, call.NewJSONFormatter(resolver, call.FormatOptions{}))
	ctx := context.Background()

	for _, variant := range []struct {
		name   string
		invoke func() error
	}{
		{"prebuilt", func() error { return call.Invoke(ctx, conn, method, call.Messages(prebuilt), nil) }},
		{"json", func() error {
			supplier := call.NewJSONSupplier(strings.NewReader(`{"name":"Ada"}`), resolver)
			return call.Invoke(ctx, conn, method, supplier, handler)
		}},
	} {
		b.Run(variant.name, func(b *testing.B) {
			var staticTime, dynamicTime time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := client.Hello(ctx, static); err != nil {
					b.Fatal(err)
				}
				middle := time.Now()
				if err := variant.invoke(); err != nil {
					b.Fatal(err)
				}
				staticTime += middle.Sub(start)
				dynamicTime += time.Since(middle)
			}
			b.ReportMetric(float64(staticTime.Nanoseconds())/float64(b.N), "static-ns/op")
			b.ReportMetric(float64(dynamicTime.Nanoseconds())/float64(b.N), "dynamic-ns/op")
			b.ReportMetric(float64(staticTime)/float64(dynamicTime), "throughput-ratio")
		})
	}
}
