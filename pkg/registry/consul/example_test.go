package consul_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/consul"
)

// Register a node with a TTL, keep it alive, and find it again. It needs a
// Consul agent on 127.0.0.1:8500, so it has no checked output.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A command honours Consul's variables by passing them in; options
	// after them (from flags, say) win.
	opts := append(consul.EnvOptions(os.LookupEnv), consul.Address("127.0.0.1:8500"))
	reg, err := consul.New(opts...)
	if err != nil {
		fmt.Println(err)
		return
	}

	svc := &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:50051"}},
	}
	// Register again before the TTL runs out to stay registered.
	if err := reg.Register(ctx, svc, registry.WithTTL(30*time.Second)); err != nil {
		if errors.Is(err, registry.ErrUnreachable) {
			fmt.Println("start a consul agent first:", err)
		}
		return
	}
	defer reg.Deregister(context.Background(), svc)

	services, err := reg.GetService(ctx, "greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range services {
		for _, node := range s.Nodes {
			fmt.Println(s.Name, s.Version, node.ID, node.Address, node.Health)
		}
	}
}

// Watch one service and print what happens to its nodes.
func ExampleRegistry_Watch() {
	reg, err := consul.New(consul.Address("127.0.0.1:8500"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := reg.Watch(ctx, registry.WatchService("greeter"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()
	for {
		ev, err := w.Next()
		if err != nil {
			return // context ended, or Stop
		}
		fmt.Println(ev.Type, ev.Service.Name, ev.Service.Nodes[0].ID)
	}
}

// EnvOptions maps Consul's environment variables onto options.
func ExampleEnvOptions() {
	env := map[string]string{"CONSUL_HTTP_ADDR": "consul.internal:8500", "CONSUL_HTTP_TOKEN": "s3cr3t"}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	reg, err := consul.New(consul.EnvOptions(lookup)...)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reg)
	// Output: consul at consul.internal:8500
}
