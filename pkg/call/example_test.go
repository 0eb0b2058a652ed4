package call_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// startExampleServer serves the greeter, with reflection, on 127.0.0.1.
func startExampleServer() (addr string, stop func()) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	server := grpc.NewServer()
	greeterpb.RegisterGreeterServer(server, handler.New())
	reflection.Register(server)
	go server.Serve(listener)
	return listener.Addr().String(), server.Stop
}

// Calling a method of a server that serves reflection, the way
// `micro call greeter Greeter.Hello '{"name":"Ada"}'` does: the descriptors
// are kept in a cache, so the next run asks the server nothing.
func Example() {
	addr, stop := startExampleServer()
	defer stop()
	cacheDir, err := os.MkdirTemp("", "descriptors")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cacheDir)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpctransport.Dial(ctx, addr, grpctransport.DialOptions{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	reflectionSource := call.NewReflectionSource(conn)
	defer reflectionSource.Close()
	src, err := call.NewCachedSource(cacheDir, call.CacheKey{Service: "greeter", Version: "1.0.0"}, reflectionSource)
	if err != nil {
		log.Fatal(err)
	}
	method, err := call.FindMethod(ctx, src, "greeter", "Greeter.Hello")
	if err != nil {
		log.Fatal(err)
	}
	resolver := call.NewResolver(ctx, src)
	requests := call.NewJSONSupplier(strings.NewReader(`{"name": "Ada", "mood": "MOOD_HAPPY"}`), resolver)
	responses := call.WriteResponses(os.Stdout, call.NewJSONFormatter(resolver, call.FormatOptions{}))
	if err := call.Invoke(ctx, conn, method, requests, responses); err != nil {
		log.Fatal(err)
	}
	fmt.Println("cached:", filepath.Dir(src.Path()) == cacheDir)
	// Output:
	// {"message":"Hello Ada, lovely to see you!"}
	// cached: true
}

// Streaming both ways: each JSON value read is sent at once, and each
// response handled as it comes.
func ExampleInvoke_bidi() {
	addr, stop := startExampleServer()
	defer stop()
	ctx := context.Background()
	conn, err := grpctransport.Dial(ctx, addr, grpctransport.DialOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	src := call.NewReflectionSource(conn)
	defer src.Close()
	method, err := call.FindMethod(ctx, src, "", "greeter.v1.Greeter/Chat")
	if err != nil {
		log.Fatal(err)
	}
	input := strings.NewReader("{\"name\": \"Ann\"}\n{\"name\": \"Ben\", \"mood\": 2}\n")
	format := call.NewJSONFormatter(nil, call.FormatOptions{EmitDefaults: true})
	err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(input, nil), call.WriteResponses(os.Stdout, format))
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"message":"Hello Ann","sequence":1}
	// {"message":"Oh. Hello Ben.","sequence":2}
}

// The forms an endpoint can take, resolved through .proto files.
func ExampleFindMethod() {
	ctx := context.Background()
	src, err := call.NewProtoSource(ctx, []string{"../../examples/greeter/proto"}, "greeter.proto")
	if err != nil {
		log.Fatal(err)
	}
	for _, endpoint := range []string{"Greeter.Hello", "greeter.v1.Greeter.Stream", "greeter.v1.Greeter/Chat", "Greeter.Goodbye"} {
		method, err := call.FindMethod(ctx, src, "greeter", endpoint)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: client streams %v, server streams %v\n", call.FullMethodName(method), method.IsStreamingClient(), method.IsStreamingServer())
	}
	// Output:
	// /greeter.v1.Greeter/Hello: client streams false, server streams false
	// /greeter.v1.Greeter/Stream: client streams false, server streams true
	// /greeter.v1.Greeter/Chat: client streams true, server streams true
	// method not found: greeter.v1.Greeter has no method "Goodbye"; its methods: Hello, Stream, Collect, Chat
}

// Showing a failed call's status with its details.
func ExampleDescribeStatus() {
	st, err := status.New(codes.InvalidArgument, "name is required").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "name", Description: "must not be empty"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	report, _ := call.DescribeStatus(st.Err(), nil)
	fmt.Println(report)
	// Output:
	// code: InvalidArgument (3)
	// message: name is required
	// detail: type.googleapis.com/google.rpc.BadRequest {"fieldViolations":[{"field":"name","description":"must not be empty"}]}
}
