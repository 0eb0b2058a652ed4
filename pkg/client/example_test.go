package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/mucp"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/selector"
	"github.com/microtools/micro/pkg/service"
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

// Calling services by name: the client finds the nodes in a registry (here
// one of a service built on pkg/service, which serves reflection), picks
// one (round robin here), keeps one connection per node, and caches the
// descriptors per service, version and fingerprint on disk.
func ExampleClient_Call() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := memory.New()
	defer reg.Close()
	svc, err := service.New(service.Name("greeter"), service.Version("1.0.0"), service.Registry(reg), service.Address("127.0.0.1:0"),
		service.Handle(func(s grpc.ServiceRegistrar) { greeterpb.RegisterGreeterServer(s, handler.New()) }))
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer svc.Stop(ctx)
	cacheDir, err := os.MkdirTemp("", "descriptors")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cacheDir)

	c, err := client.New(client.Options{
		Registry:        reg,
		SelectorOptions: []selector.Option{selector.UseStrategy(selector.RoundRobin())},
		CacheDir:        cacheDir,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	resolver := c.Resolver("greeter")
	output := call.WriteResponses(os.Stdout, call.NewJSONFormatter(resolver, call.FormatOptions{}))
	for _, name := range []string{"Ada", "Grace"} {
		requests := call.NewJSONSupplier(strings.NewReader(`{"name":"`+name+`"}`), resolver)
		if err := c.Call(ctx, "greeter", "Greeter.Hello", requests, output); err != nil {
			log.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(cacheDir)
	fmt.Println("cache entries:", len(entries), strings.HasPrefix(entries[0].Name(), "greeter@1.0.0-"))
	// Output:
	// {"message":"Hello Ada"}
	// {"message":"Hello Grace"}
	// cache entries: 1 true
}
