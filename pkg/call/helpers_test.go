package call_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/call"
)

// Where the test protos are, relative to this package.
const (
	greeterImportPath = "../../examples/greeter/proto"
	greeterFile       = "greeter.proto"
	kitchenImportPath = "testdata"
	kitchenFile       = "kitchen/v1/kitchen.proto"
)

// testServer is a gRPC server on 127.0.0.1 serving the greeter.
type testServer struct {
	addr   string
	server *grpc.Server
	// reflectionStreams counts the reflection streams opened, v1 and
	// v1alpha.
	reflectionStreams atomic.Int64
}

type serverConfig struct {
	reflection bool
	options    []grpc.ServerOption
	register   func(*grpc.Server)
}

// startGreeter starts a greeter server, with reflection when asked, stopped
// when the test ends.
func startGreeter(t testing.TB, reflect bool, options ...grpc.ServerOption) *testServer {
	t.Helper()
	return startServer(t, serverConfig{
		reflection: reflect,
		options:    options,
		register:   func(s *grpc.Server) { greeterpb.RegisterGreeterServer(s, handler.New()) },
	})
}

func startServer(t testing.TB, config serverConfig) *testServer {
	t.Helper()
	ts := &testServer{}
	countReflection := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		if strings.HasPrefix(info.FullMethod, "/grpc.reflection.") {
			ts.reflectionStreams.Add(1)
		}
		return next(srv, ss)
	}
	options := append([]grpc.ServerOption{grpc.StreamInterceptor(countReflection)}, config.options...)
	server := grpc.NewServer(options...)
	if config.register != nil {
		config.register(server)
	}
	if config.reflection {
		reflection.Register(server)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	ts.addr, ts.server = listener.Addr().String(), server
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	t.Cleanup(func() {
		server.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve on %s: %v", ts.addr, err)
		}
	})
	return ts
}

// echoHandler answers any unknown method with the request it was given: the
// request's fields are kept as unknown fields of an Empty and sent back.
func echoHandler(srv any, stream grpc.ServerStream) error {
	var msg emptypb.Empty
	if err := stream.RecvMsg(&msg); err != nil {
		return err
	}
	return stream.SendMsg(&msg)
}

// dial connects to addr, closed when the test ends.
func dial(t testing.TB, addr string, opts call.DialOptions) *grpc.ClientConn {
	t.Helper()
	conn, err := call.Dial(testContext(t), addr, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// testContext is a context that ends with the test, or after a minute.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// greeterProtoSource compiles the greeter's .proto file.
func greeterProtoSource(t testing.TB) *call.FileSource {
	t.Helper()
	src, err := call.NewProtoSource(testContext(t), []string{greeterImportPath}, greeterFile)
	if err != nil {
		t.Fatalf("NewProtoSource: %v", err)
	}
	return src
}

// greeterWithoutIdempotencySource compiles greeter.proto with its
// idempotency_level options removed: the same service, with every method
// unsafe to run twice as far as a client can tell.
func greeterWithoutIdempotencySource(t testing.TB) *call.FileSource {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(greeterImportPath, greeterFile))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.Contains(line, "idempotency_level") {
			kept = append(kept, line)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, greeterFile), []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := call.NewProtoSource(testContext(t), []string{dir}, greeterFile)
	if err != nil {
		t.Fatalf("NewProtoSource: %v", err)
	}
	return src
}

// kitchenSource compiles the kitchen test proto.
func kitchenSource(t testing.TB) *call.FileSource {
	t.Helper()
	src, err := call.NewProtoSource(testContext(t), []string{kitchenImportPath}, kitchenFile)
	if err != nil {
		t.Fatalf("NewProtoSource: %v", err)
	}
	return src
}

// recorder is an EventHandler that keeps every event, responses as compact
// JSON.
type recorder struct {
	format    call.Formatter
	sent      metadata.MD
	headers   metadata.MD
	responses []string
	status    *status.Status
	trailers  metadata.MD
}

func newRecorder() *recorder {
	return &recorder{format: call.NewJSONFormatter(nil, call.FormatOptions{})}
}

func (r *recorder) OnSendHeaders(md metadata.MD)    { r.sent = md }
func (r *recorder) OnReceiveHeaders(md metadata.MD) { r.headers = md }
func (r *recorder) OnReceiveResponse(msg proto.Message) error {
	data, err := r.format(msg)
	if err != nil {
		return err
	}
	r.responses = append(r.responses, string(data))
	return nil
}
func (r *recorder) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	r.status, r.trailers = st, md
}

// dynamicRequest returns an empty request message of method.
func dynamicRequest(t testing.TB, method protoreflect.MethodDescriptor) *dynamicpb.Message {
	t.Helper()
	return dynamicpb.NewMessage(method.Input())
}
