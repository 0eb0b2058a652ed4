package handler_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	greeter "github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/examples/relay/handler"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	s := grpc.NewServer()
	register(s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

// TestRelayCallsGreeterByName: relay's stubs reach greeter through the
// registry, and each answer names the greeter node.
func TestRelayCallsGreeterByName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := memory.New()
	greeterAddr := serve(t, func(s *grpc.Server) { greeterpb.RegisterGreeterServer(s, greeter.New()) })
	if err := reg.Register(ctx, &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{{ID: "g1", Address: greeterAddr}}}); err != nil {
		t.Fatal(err)
	}
	conn, err := client.Dial("greeter", client.DialOptions{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	relayAddr := serve(t, func(s *grpc.Server) {
		greeterpb.RegisterGreeterServer(s, handler.New(greeterpb.NewGreeterClient(conn)))
	})

	rc, err := grpc.NewClient(relayAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var header metadata.MD
	resp, err := greeterpb.NewGreeterClient(rc).Hello(ctx, &greeterpb.HelloRequest{Name: "Ada"}, grpc.Header(&header))
	if err != nil || resp.GetMessage() != "Hello Ada" {
		t.Fatalf("Hello through relay: %v %v", resp, err)
	}
	if got := header.Get(handler.HeaderNode); len(got) != 1 || got[0] != greeterAddr {
		t.Fatalf("greeter-node header: want %s, have %v", greeterAddr, got)
	}
}
