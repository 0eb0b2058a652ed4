package grpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/transport"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
	"github.com/microtools/micro/pkg/transport/transporttest"
)

// greeting replaces "Hello" with the x-greeting metadata when it is sent,
// as the contract's greeter does.
func greeting(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	resp, err := next(ctx, req)
	md, _ := metadata.FromIncomingContext(ctx)
	if g := md.Get("x-greeting"); err == nil && len(g) > 0 {
		if hello, ok := resp.(*greeterpb.HelloResponse); ok {
			hello.Message = g[0] + strings.TrimPrefix(hello.Message, "Hello")
		}
	}
	return resp, err
}

func startGreeter(t *testing.T, options ...grpc.ServerOption) string {
	t.Helper()
	server := grpc.NewServer(append([]grpc.ServerOption{grpc.UnaryInterceptor(greeting)}, options...)...)
	greeterpb.RegisterGreeterServer(server, handler.New())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(l) }()
	t.Cleanup(server.Stop)
	return l.Addr().String()
}

func hello(name string) *transport.Request {
	body, _ := proto.Marshal(&greeterpb.HelloRequest{Name: name})
	return &transport.Request{Service: "greeter", Endpoint: "Greeter.Hello", Method: "/greeter.v1.Greeter/Hello", Body: body}
}

func message(body []byte) (string, error) {
	var resp greeterpb.HelloResponse
	err := proto.Unmarshal(body, &resp)
	return resp.GetMessage(), err
}

func harness(tr *grpctransport.Transport, address string) transporttest.Harness {
	return transporttest.Harness{
		Transport: tr,
		Address:   address,
		Request:   hello,
		Message:   message,
		Streams:   true,
		Stream: func(name string, count int) *transport.Request {
			body, _ := proto.Marshal(&greeterpb.StreamRequest{Name: name, Count: int32(count)})
			return &transport.Request{Service: "greeter", Endpoint: "Greeter.Stream", Method: "/greeter.v1.Greeter/Stream", Body: body}
		},
	}
}

func TestContract(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transporttest.Harness {
		return harness(grpctransport.New(grpctransport.DialOptions{}), startGreeter(t))
	})
}

func TestContractTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	transporttest.Run(t, func(t *testing.T) transporttest.Harness {
		address := startGreeter(t, grpc.Creds(credentials.NewTLS(pki.ServerConfig(false))))
		return harness(grpctransport.New(grpctransport.DialOptions{CACert: pki.CAFile, Authority: "localhost"}), address)
	})
}

func TestClientConn(t *testing.T) {
	address := startGreeter(t)
	conn, err := grpctransport.New(grpctransport.DialOptions{}).Dial(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	stub := greeterpb.NewGreeterClient(conn.(*grpctransport.Conn).ClientConn())
	resp, err := stub.Hello(context.Background(), &greeterpb.HelloRequest{Name: "Ada"})
	if err != nil || resp.GetMessage() != "Hello Ada" {
		t.Fatalf("generated stub over the transport's connection: %v %v", resp, err)
	}
}

func TestPlaintextToTLSServerSaysSo(t *testing.T) {
	pki := testenv.NewPKI(t)
	address := startGreeter(t, grpc.Creds(credentials.NewTLS(pki.ServerConfig(false))))
	_, err := grpctransport.New(grpctransport.DialOptions{}).Dial(context.Background(), address)
	var ce *transport.ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("want a ConnectError that suggests TLS, have %v", err)
	}
}
