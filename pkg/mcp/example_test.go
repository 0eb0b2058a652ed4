package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/mcp"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// greeterCaller describes every service as the example greeter and answers
// every call with a greeting: a stand-in for a Caller over a real client.
type greeterCaller struct{}

func (greeterCaller) Describe(context.Context, *registry.Service) ([]protoreflect.ServiceDescriptor, error) {
	return []protoreflect.ServiceDescriptor{greeterpb.File_greeter_proto.Services().Get(0)}, nil
}

func (greeterCaller) Call(_ context.Context, req *mcp.Request, onResponse func(json.RawMessage) error) error {
	return onResponse(json.RawMessage(`{"message":"Hello Ada"}`))
}

func (greeterCaller) CheckHealth(context.Context, string) ([]mcp.NodeHealth, error) { return nil, nil }

func ExampleNew() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	_ = reg.Register(ctx, &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:50051"}}})

	server, err := mcp.New(mcp.Options{Registry: reg, Caller: greeterCaller{}, ReadOnly: false})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()
	// Start would also follow the registry; Sync lists it once.
	if err := server.Sync(ctx); err != nil {
		fmt.Println(err)
		return
	}
	for _, tool := range server.Tools() {
		fmt.Println(tool.Name, tool.Kind)
	}
	// Serve it: server.Run(ctx, &sdkmcp.StdioTransport{}), or
	// http.ListenAndServe("127.0.0.1:7000", server.HTTPHandler(token)).

	// Output:
	// list_services builtin
	// describe_service builtin
	// check_health builtin
	// greeter_Greeter_Chat bidi-streaming
	// greeter_Greeter_Collect client-streaming
	// greeter_Greeter_Hello unary
	// greeter_Greeter_Stream server-streaming
}
