package call_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// Where the test protos are, relative to this package.
const (
	greeterImportPath = "../../examples/greeter/proto"
	greeterFile       = "greeter.proto"
	kitchenImportPath = "testdata"
	kitchenFile       = "kitchen/v1/kitchen.proto"
)

// echoHandler answers any unknown method with the request it was given: the
// request's fields are kept as unknown fields of an Empty and sent back.
func echoHandler(srv any, stream grpc.ServerStream) error {
	var msg emptypb.Empty
	if err := stream.RecvMsg(&msg); err != nil {
		return err
	}
	return stream.SendMsg(&msg)
}

// dial connects to addr through the gRPC transport, closed when the test
// ends.
func dial(t testing.TB, addr string, opts grpctransport.DialOptions) *grpc.ClientConn {
	t.Helper()
	conn, err := grpctransport.Dial(testContext(t), addr, opts)
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
