package client_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/mucp"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// A go-micro service (here the mucp fixture standing in for one) is called
// with its JSON as it is: the node's metadata says it speaks mucp over http.
func ExampleClient_CallJSON() {
	ctx := context.Background()
	reg := memory.New()
	legacy, _ := mucp.Listen("legacy", "1.0.0", "legacy-1", "127.0.0.1:0")
	defer legacy.Close()
	_ = reg.Register(ctx, legacy.Record())

	c, err := client.New(client.Options{Registry: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	kind, _ := c.Kind(ctx, "legacy")
	resp, err := c.CallJSON(ctx, "legacy", "Greeter.Hello", []byte(`{"name":"Ada"}`), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(kind, string(resp.Body))
	// Output: mucp {"message":"Hello Ada"}
}

// Generated stubs call a service by name over Dial's connection.
func ExampleDial() {
	ctx := context.Background()
	reg := memory.New()
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	server := grpc.NewServer()
	greeterpb.RegisterGreeterServer(server, handler.New())
	go server.Serve(lis)
	defer server.Stop()
	_ = reg.Register(ctx, &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: "greeter-1", Address: lis.Addr().String()}}})

	conn, err := client.Dial("greeter", client.DialOptions{Registry: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	resp, err := greeterpb.NewGreeterClient(conn).Hello(ctx, &greeterpb.HelloRequest{Name: "Ada"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetMessage())
	// Output: Hello Ada
}
