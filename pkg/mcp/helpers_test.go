package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/mcp"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// testContext ends with the test, or after a minute.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// serve runs server on 127.0.0.1:0 until the test ends and returns its
// address.
func serve(t testing.TB, server *grpc.Server) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	t.Cleanup(func() {
		server.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return listener.Addr().String()
}

// startGreeter serves the example greeter with reflection.
func startGreeter(t testing.TB) string {
	t.Helper()
	server := grpc.NewServer()
	greeterpb.RegisterGreeterServer(server, handler.New())
	reflection.Register(server)
	return serve(t, server)
}

// services is a reflection ServiceInfoProvider of fixed names.
type services []string

func (s services) GetServiceInfo() map[string]grpc.ServiceInfo {
	out := map[string]grpc.ServiceInfo{}
	for _, name := range s {
		out[name] = grpc.ServiceInfo{}
	}
	return out
}

// startDynamic serves the services of src, compiled from .proto files with
// their comments, with reflection over those files (comments included) and
// a handler that answers any method with its request (same field numbers),
// except Delete, which fails with PermissionDenied and an ErrorInfo.
func startDynamic(t testing.TB, src *call.FileSource, names ...string) string {
	t.Helper()
	server := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		var msg emptypb.Empty
		if err := stream.RecvMsg(&msg); err != nil {
			return err
		}
		if strings.HasSuffix(method, "/Delete") {
			st, _ := status.New(codes.PermissionDenied, "products cannot be deleted").WithDetails(&errdetails.ErrorInfo{Reason: "READ_ONLY_SHOP", Domain: "shop.test"})
			return st.Err()
		}
		if md, ok := metadata.FromIncomingContext(stream.Context()); ok && len(md.Get("x-fail")) > 0 {
			return status.Error(codes.Unauthenticated, "header x-fail: "+md.Get("x-fail")[0])
		}
		if strings.HasSuffix(method, "/Watch") {
			for range 3 {
				if err := stream.SendMsg(&msg); err != nil {
					return err
				}
			}
			return nil
		}
		return stream.SendMsg(&msg)
	}))
	reflectionpb.RegisterServerReflectionServer(server, reflection.NewServerV1(reflection.ServerOptions{
		Services:           services(names),
		DescriptorResolver: src.Files(),
	}))
	return serve(t, server)
}

func protoSource(t testing.TB, importPath, file string) *call.FileSource {
	t.Helper()
	src, err := call.NewProtoSource(testContext(t), []string{importPath}, file)
	if err != nil {
		t.Fatalf("NewProtoSource(%s): %v", file, err)
	}
	return src
}

// startKitchen serves pkg/call's kitchen-sink test service.
func startKitchen(t testing.TB) string {
	t.Helper()
	return startDynamic(t, protoSource(t, "../call/testdata", "kitchen/v1/kitchen.proto"), "kitchen.v1.Kitchen")
}

// startShop serves this package's shop test service.
func startShop(t testing.TB) string {
	t.Helper()
	return startDynamic(t, protoSource(t, "testdata", "shop/v1/shop.proto"), "shop.v1.Shop")
}

// register puts a service with one node at addr in reg.
func register(t testing.TB, reg registry.Registry, name, addr string) *registry.Service {
	t.Helper()
	svc := &registry.Service{Name: name, Version: "1.0.0", Nodes: []*registry.Node{{ID: name + "-" + addr, Address: addr}}}
	if err := reg.Register(testContext(t), svc, registry.NoExpiry()); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return svc
}

// testCaller is a Caller over pkg/client's Client: what the micro command
// does, written again here since pkg/* does not import cmd/*.
type testCaller struct {
	client *client.Client
	reg    registry.Registry

	mu    sync.Mutex
	calls []*mcp.Request
}

func newTestCaller(t testing.TB, reg registry.Registry, cacheDir ...string) *testCaller {
	t.Helper()
	opts := client.Options{Registry: reg}
	if len(cacheDir) > 0 {
		opts.CacheDir = cacheDir[0]
	}
	cl, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return &testCaller{client: cl, reg: reg}
}

func (c *testCaller) Describe(ctx context.Context, svc *registry.Service) ([]protoreflect.ServiceDescriptor, error) {
	for _, n := range svc.Nodes {
		if n.Metadata["protocol"] == "mucp" {
			return nil, fmt.Errorf("%s: %w", svc.Name, mcp.ErrNoDescriptors)
		}
	}
	src, err := c.client.Source(ctx, svc.Name)
	if err != nil {
		return nil, err
	}
	names, err := src.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	var out []protoreflect.ServiceDescriptor
	for _, name := range names {
		if strings.HasPrefix(name, "grpc.") {
			continue
		}
		d, err := src.FindSymbol(ctx, name)
		if err != nil {
			return nil, err
		}
		if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
			out = append(out, sd)
		}
	}
	return out, nil
}

func (c *testCaller) Call(ctx context.Context, req *mcp.Request, onResponse func(json.RawMessage) error) error {
	c.mu.Lock()
	c.calls = append(c.calls, req)
	c.mu.Unlock()
	resolver := c.client.Resolver(req.Service)
	format := call.NewJSONFormatter(resolver, call.FormatOptions{})
	handler := call.HandlerFuncs{Response: func(msg proto.Message) error {
		data, err := format(msg)
		if err != nil {
			return err
		}
		return onResponse(data)
	}}
	values, err := req.Values()
	if err != nil {
		return err
	}
	return c.client.Call(ctx, req.Service, req.Endpoint, call.NewJSONSupplier(values, resolver), handler, call.WithHeaders(metadata.MD(req.Headers)))
}

func (c *testCaller) CheckHealth(ctx context.Context, service string) ([]mcp.NodeHealth, error) {
	records, err := c.reg.GetService(ctx, service)
	if err != nil {
		return nil, err
	}
	var out []mcp.NodeHealth
	for _, r := range records {
		for _, n := range r.Nodes {
			out = append(out, mcp.NodeHealth{Node: n.ID, Address: n.Address, Version: r.Version, Status: "UNIMPLEMENTED"})
		}
	}
	return out, nil
}

// fixture is a Server over a memory registry, with a connected client.
type fixture struct {
	reg      *memory.Registry
	caller   *testCaller
	server   *mcp.Server
	session  *sdk.ClientSession
	changed  chan struct{} // a notifications/tools/list_changed arrived
	progress chan *sdk.ProgressNotificationParams
}

// newFixture builds a Server with opts (Registry and Caller filled in),
// after setup has registered what it wants, starts it and connects a client
// through the SDK's in-memory transport.
func newFixture(t *testing.T, opts mcp.Options, setup func(reg registry.Registry), cacheDir ...string) *fixture {
	t.Helper()
	f := &fixture{reg: memory.New(), changed: make(chan struct{}, 16), progress: make(chan *sdk.ProgressNotificationParams, 16)}
	t.Cleanup(func() { f.reg.Close() })
	if setup != nil {
		setup(f.reg)
	}
	f.caller = newTestCaller(t, f.reg, cacheDir...)
	opts.Registry, opts.Caller = f.reg, f.caller
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	server, err := mcp.New(opts)
	if err != nil {
		t.Fatalf("mcp.New: %v", err)
	}
	f.server = server
	ctx := testContext(t)
	if err := server.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	serverTransport, clientTransport := sdk.NewInMemoryTransports()
	ss, err := server.SDK().Connect(ctx, serverTransport, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	t.Cleanup(func() { ss.Close() })
	client := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "v0"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			select {
			case f.changed <- struct{}{}:
			default:
			}
		},
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			f.progress <- req.Params
		},
	})
	f.session, err = client.Connect(ctx, clientTransport, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() { f.session.Close() })
	return f
}

// tools lists the tools by name.
func (f *fixture) tools(t *testing.T) map[string]*sdk.Tool {
	t.Helper()
	out := map[string]*sdk.Tool{}
	for tool, err := range f.session.Tools(testContext(t), nil) {
		if err != nil {
			t.Fatalf("list tools: %v", err)
		}
		out[tool.Name] = tool
	}
	return out
}

// call calls a tool with arguments given as JSON.
func (f *fixture) call(t *testing.T, name, args string) *sdk.CallToolResult {
	t.Helper()
	return f.callWith(t, &sdk.CallToolParams{Name: name, Arguments: json.RawMessage(args)})
}

func (f *fixture) callWith(t *testing.T, params *sdk.CallToolParams) *sdk.CallToolResult {
	t.Helper()
	res, err := f.session.CallTool(testContext(t), params)
	if err != nil {
		t.Fatalf("call %s: %v", params.Name, err)
	}
	return res
}

// text is the text of a result's contents, joined by newlines.
func text(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// structured is a result's structured content as a JSON object.
func structured(t *testing.T, res *sdk.CallToolResult) map[string]any {
	t.Helper()
	data, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("structured content %s: %v", data, err)
	}
	return out
}

func names(tools map[string]*sdk.Tool) []string {
	var out []string
	for name := range tools {
		out = append(out, name)
	}
	return out
}
