package selector_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/selector"
)

// exampleRegistry holds two versions of greeter: v1 on two nodes, v2 on one.
func exampleRegistry() *memory.Registry {
	reg := memory.New()
	ctx := context.Background()
	_ = reg.Register(ctx, &registry.Service{Name: "greeter", Version: "v1", Nodes: []*registry.Node{
		{ID: "greeter-1", Address: "127.0.0.1:9001", Metadata: map[string]string{"zone": "eu"}},
		{ID: "greeter-2", Address: "127.0.0.1:9002", Metadata: map[string]string{"zone": "us"}},
	}})
	_ = reg.Register(ctx, &registry.Service{Name: "greeter", Version: "v2", Nodes: []*registry.Node{
		{ID: "greeter-3", Address: "127.0.0.1:9003", Metadata: map[string]string{"zone": "eu"}},
	}})
	return reg
}

// Round robin takes the nodes in turn across calls.
func Example() {
	reg := exampleRegistry()
	defer reg.Close()
	sel, err := selector.New(selector.Registry(reg), selector.UseStrategy(selector.RoundRobin()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sel.Close()

	ctx := context.Background()
	for range 4 {
		next, err := sel.Select(ctx, "greeter", selector.WithVersion("v1"))
		if err != nil {
			fmt.Println(err)
			return
		}
		node, done, err := next()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(node.ID, node.Address)
		done(nil) // the call succeeded
	}
	// Output:
	// greeter-1 127.0.0.1:9001
	// greeter-2 127.0.0.1:9002
	// greeter-1 127.0.0.1:9001
	// greeter-2 127.0.0.1:9002
}

// A call that cannot connect retries on another node; the node that failed is
// ejected, so the next call does not try it first.
func ExampleNext() {
	reg := exampleRegistry()
	defer reg.Close()
	sel, err := selector.New(selector.Registry(reg), selector.UseStrategy(selector.RoundRobin()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sel.Close()

	invoke := func(address string) error {
		if address == "127.0.0.1:9001" {
			return status.Error(codes.Unavailable, "connection refused")
		}
		return nil
	}
	call := func() {
		next, err := sel.Select(context.Background(), "greeter", selector.WithVersion("v1"))
		if err != nil {
			fmt.Println(err)
			return
		}
		for {
			node, done, err := next()
			if err != nil {
				fmt.Println(err)
				return
			}
			err = invoke(node.Address)
			done(err)
			fmt.Printf("%s: %v\n", node.ID, err)
			if !selector.IsConnectionError(err) {
				return
			}
		}
	}
	call()
	call()
	// Output:
	// greeter-1: rpc error: code = Unavailable desc = connection refused
	// greeter-2: <nil>
	// greeter-2: <nil>
}

// Filters narrow the candidates; when none is left the error says what
// there is.
func ExampleWithMetadata() {
	reg := exampleRegistry()
	defer reg.Close()
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sel.Close()
	ctx := context.Background()

	next, err := sel.Select(ctx, "greeter", selector.WithMetadata("zone", "eu"), selector.WithVersion("v2"))
	if err != nil {
		fmt.Println(err)
		return
	}
	node, done, _ := next()
	done(nil)
	fmt.Println(node.ID)

	_, err = sel.Select(ctx, "greeter", selector.WithVersion("v3"))
	fmt.Println(err)
	// Output:
	// greeter-3
	// selector: no node matches the filters: service "greeter" has no node with version "v3"; it has 3 nodes: version "v1" (2 nodes), version "v2" (1 node)
}
