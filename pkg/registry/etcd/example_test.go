package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/etcd"
)

// Register a node with a TTL, keep it alive, and find it again, reading
// only micro's and kratos' layouts. It needs an etcd on 127.0.0.1:2379, so
// it has no checked output.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	reg, err := etcd.New(ctx,
		etcd.WithEndpoints("127.0.0.1:2379"),
		etcd.WithLayouts(etcd.LayoutMicro, etcd.LayoutKratos),
		etcd.WithOnError(func(err error) { log.Println("warning:", err) }),
	)
	if errors.Is(err, registry.ErrUnreachable) {
		fmt.Println("start etcd first:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()

	svc := &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:50051"}},
	}
	// Register again before the TTL runs out to stay registered.
	if err := reg.Register(ctx, svc, registry.WithTTL(30*time.Second)); err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Deregister(context.Background(), svc)

	found, err := reg.GetService(ctx, "greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range found[0].Nodes {
		fmt.Println(n.ID, n.Address, n.Metadata[etcd.MetadataLayout])
	}
}
