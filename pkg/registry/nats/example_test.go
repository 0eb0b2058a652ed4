package nats_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/microtools/micro/pkg/natsserver"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dir, err := os.MkdirTemp("", "nats-registry-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	srv, err := natsserver.Start(ctx, natsserver.Options{Address: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()

	reg, err := natsregistry.New(ctx, natsregistry.WithURL(srv.ClientURL()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()

	greeter := &registry.Service{
		Name:    "go.micro.srv.greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:50051"}},
	}
	if err := reg.Register(ctx, greeter, registry.WithTTL(30*time.Second)); err != nil {
		fmt.Println(err)
		return
	}
	services, err := reg.GetService(ctx, "go.micro.srv.greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, svc := range services {
		for _, node := range svc.Nodes {
			fmt.Println(svc.Name, svc.Version, node.ID, node.Address, node.Health)
		}
	}
	// Output: go.micro.srv.greeter 1.0.0 greeter-1 127.0.0.1:50051 passing
}
