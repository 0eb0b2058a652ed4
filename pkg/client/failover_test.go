package client_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/selector"
	"github.com/microtools/micro/pkg/transport"
)

// node is a greeter server registered in a registry, counting the calls
// it serves and the client connections it accepted.
type node struct {
	*grpctest.Server
	id    string
	calls atomic.Int64

	mu      sync.Mutex
	clients map[string]bool // by remote address
}

// startNodes starts n greeter servers with reflection and registers each in
// reg as a node of "greeter" version 1.0.0.
func startNodes(t *testing.T, reg registry.Registry, n int) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		nd := &node{id: "greeter-" + string(rune('a'+i)), clients: map[string]bool{}}
		count := func(ctx context.Context) {
			nd.calls.Add(1)
			if p, ok := peer.FromContext(ctx); ok {
				nd.mu.Lock()
				nd.clients[p.Addr.String()] = true
				nd.mu.Unlock()
			}
		}
		nd.Server = grpctest.StartGreeter(t, true,
			grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
				count(ctx)
				return handler(ctx, req)
			}),
			grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
				if !strings.HasPrefix(info.FullMethod, "/grpc.reflection.") {
					count(ss.Context())
				}
				return handler(srv, ss)
			}))
		svc := &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: nd.id, Address: nd.Addr}}}
		if err := reg.Register(testContext(t), svc, registry.NoExpiry()); err != nil {
			t.Fatal(err)
		}
		nodes[i] = nd
	}
	return nodes
}

// unavailableGreeter fails every method with Unavailable without
// answering (Collect and Chat after reading requests), as a node going
// away does.
type unavailableGreeter struct {
	greeterpb.UnimplementedGreeterServer
	calls atomic.Int64
}

func (g *unavailableGreeter) Collect(stream greeterpb.Greeter_CollectServer) error {
	g.calls.Add(1)
	for {
		if _, err := stream.Recv(); err != nil {
			return status.Error(codes.Unavailable, "going away")
		}
	}
}

func (g *unavailableGreeter) Hello(context.Context, *greeterpb.HelloRequest) (*greeterpb.HelloResponse, error) {
	g.calls.Add(1)
	return nil, status.Error(codes.Unavailable, "going away")
}

func (g *unavailableGreeter) Stream(*greeterpb.StreamRequest, greeterpb.Greeter_StreamServer) error {
	g.calls.Add(1)
	return status.Error(codes.Unavailable, "going away")
}

func (g *unavailableGreeter) Chat(stream greeterpb.Greeter_ChatServer) error {
	g.calls.Add(1)
	if _, err := stream.Recv(); err != nil {
		return err
	}
	return status.Error(codes.Unavailable, "going away")
}

// startUnavailable registers a node whose streams fail with Unavailable,
// chosen first by the selector it returns, before a healthy node.
func startUnavailable(t *testing.T, reg registry.Registry) (*unavailableGreeter, selector.Selector) {
	t.Helper()
	impl := &unavailableGreeter{}
	server := grpctest.Start(t, grpctest.Config{Register: func(s *grpc.Server) { greeterpb.RegisterGreeterServer(s, impl) }})
	svc := &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: "greeter-0", Address: server.Addr}}}
	if err := reg.Register(testContext(t), svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	first := selector.StrategyFunc(func(_ string, candidates []selector.Candidate) int {
		for i, c := range candidates {
			if c.Node.ID == "greeter-0" {
				return i
			}
		}
		return 0
	})
	sel, err := selector.New(selector.Registry(reg), selector.UseStrategy(first))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	return impl, sel
}

func newMemoryRegistry(t *testing.T) *memory.Registry {
	t.Helper()
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	return reg
}

// greeterProtoSource describes the greeter from its generated code: Hello
// and Stream declare idempotency_level = NO_SIDE_EFFECTS there.
func greeterProtoSource(t testing.TB) call.DescriptorSource {
	t.Helper()
	src, err := call.NewDescriptorSetSource(call.DescriptorSetOf(greeterpb.File_greeter_proto), "greeter.proto")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// greeterWithoutIdempotencySource describes the greeter with its
// idempotency_level options removed: the same service, with every method
// unsafe to run twice as far as a client can tell.
func greeterWithoutIdempotencySource(t testing.TB) call.DescriptorSource {
	t.Helper()
	set := call.DescriptorSetOf(greeterpb.File_greeter_proto)
	for _, file := range set.GetFile() {
		for _, svc := range file.GetService() {
			for _, method := range svc.GetMethod() {
				if method.Options != nil {
					method.Options.IdempotencyLevel = nil
				}
			}
		}
	}
	src, err := call.NewDescriptorSetSource(set, "greeter.proto without idempotency_level")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// hello calls Greeter.Hello through c and returns the greeting.
func hello(ctx context.Context, c *client.Client, name string, opts ...call.InvokeOption) (string, error) {
	var out strings.Builder
	handler := call.WriteResponses(&out, call.NewJSONFormatter(c.Resolver("greeter"), call.FormatOptions{}))
	supplier := call.NewJSONSupplier(strings.NewReader(`{"name":"`+name+`"}`), c.Resolver("greeter"))
	err := c.Call(ctx, "greeter", "Greeter.Hello", supplier, handler, opts...)
	return strings.TrimSpace(out.String()), err
}

func reflectionStreams(nodes []*node) int64 {
	var n int64
	for _, nd := range nodes {
		n += nd.ReflectionStreams.Load()
	}
	return n
}

// Round robin over three nodes: 99 calls of one client are 33 on each, over
// one connection per node, and the descriptors are fetched once for the
// version, whichever node serves the first call.
func TestClientRoundRobin(t *testing.T) {
	reg := newMemoryRegistry(t)
	nodes := startNodes(t, reg, 3)
	sel, err := selector.New(selector.Registry(reg), selector.UseStrategy(selector.RoundRobin()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	c := newClient(t, client.Options{Registry: reg, Selector: sel, CacheDir: t.TempDir()})

	ctx := testContext(t)
	for i := range 99 {
		greeting, err := hello(ctx, c, "Ada")
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if want := `{"message":"Hello Ada"}`; greeting != want {
			t.Fatalf("call %d: want %s, have %s", i+1, want, greeting)
		}
	}
	for _, nd := range nodes {
		if have := nd.calls.Load(); have != 33 {
			t.Errorf("node %s: want 33 calls, have %d", nd.id, have)
		}
		nd.mu.Lock()
		if len(nd.clients) != 1 {
			t.Errorf("node %s: want one connection reused by every call, have %d", nd.id, len(nd.clients))
		}
		nd.mu.Unlock()
	}
	if have := reflectionStreams(nodes); have != 1 {
		t.Errorf("want one reflection stream for the one version, have %d", have)
	}
}

// A node killed during a loop of calls fails no call: the call fails over
// to another node and the selector ejects the dead one.
func TestClientFailover(t *testing.T) {
	reg := newMemoryRegistry(t)
	nodes := startNodes(t, reg, 3)
	c := newClient(t, client.Options{Registry: reg, CacheDir: t.TempDir()})

	ctx := testContext(t)
	var retried atomic.Int64
	trace := &call.ClientTrace{Retrying: func(*registry.Node, error) { retried.Add(1) }}
	for i := range 60 {
		if i == 20 {
			// Going away; still registered. Gracefully (GOAWAY, then
			// new calls are refused before the server processes them):
			// a call sent in the instant a killed server's connection
			// closes may have reached it and is rightly not retried.
			// GracefulStop waits for the open reflection stream, which
			// ends when the client is closed.
			go nodes[1].Server.Server.GracefulStop()
		}
		if _, err := hello(ctx, c, "Ada", call.WithTrace(trace)); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	before := nodes[1].calls.Load()
	if before == 0 || nodes[0].calls.Load() == 0 || nodes[2].calls.Load() == 0 {
		t.Errorf("every node should have served calls: %d %d %d", nodes[0].calls.Load(), before, nodes[2].calls.Load())
	}
	if retried.Load() == 0 {
		t.Error("some call should have failed over from the killed node")
	}
	// Ejected: later calls do not even try the dead node.
	retried.Store(0)
	for i := range 20 {
		if _, err := hello(ctx, c, "Ada", call.WithTrace(trace)); err != nil {
			t.Fatalf("call %d after ejection: %v", i+1, err)
		}
	}
	if have := retried.Load(); have != 0 {
		t.Errorf("the ejected node should not be tried again within its back-off, retried %d times", have)
	}
}

// A call that a server received is not sent to another node, though the
// server said Unavailable: the handler ran once, and the call's error is
// the server's status. Unary and client streaming alike. (Hello is read
// here without its idempotency option; see TestClientRetriesIdempotentCalls.)
func TestClientDoesNotRetryReceivedCalls(t *testing.T) {
	for _, tc := range []struct {
		endpoint, requests string
	}{
		{"Greeter.Hello", `{"name":"Ann"}`},
		{"Greeter.Collect", `{"name":"Ann"} {"name":"Ben"} {"name":"Cy"}`},
		{"Greeter.Chat", `{"name":"Ann"}`},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			reg := newMemoryRegistry(t)
			healthy := startNodes(t, reg, 1)
			unavailable, sel := startUnavailable(t, reg)
			c := newClient(t, client.Options{Registry: reg, Selector: sel, Retries: 3, Source: greeterWithoutIdempotencySource(t)})

			var retried atomic.Int64
			trace := &call.ClientTrace{Retrying: func(*registry.Node, error) { retried.Add(1) }}
			requests := call.NewJSONSupplier(strings.NewReader(tc.requests), nil)
			err := c.Call(testContext(t), "greeter", tc.endpoint, requests, nil, call.WithTrace(trace))
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "going away") {
				t.Fatalf("want the server's Unavailable, have %v", err)
			}
			if have := unavailable.calls.Load(); have != 1 {
				t.Errorf("want the handler run once, have %d runs", have)
			}
			if have := healthy[0].calls.Load(); have != 0 {
				t.Errorf("the call was sent again to another node (%d calls there)", have)
			}
			if retried.Load() != 0 {
				t.Errorf("the trace reports a retry")
			}
		})
	}
}

// A method that declares itself safe to run twice (greeter.proto's Hello
// and Stream: idempotency_level = NO_SIDE_EFFECTS) is sent to another node
// when its node answered Unavailable before any response: the handler ran
// on both nodes and the call succeeds. A method without that option is
// not (TestClientDoesNotRetryReceivedCalls).
func TestClientRetriesIdempotentCalls(t *testing.T) {
	for _, tc := range []struct {
		endpoint, requests string
	}{
		{"Greeter.Hello", `{"name":"Ann"}`},
		{"Greeter.Stream", `{"name":"Ann","count":2}`},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			reg := newMemoryRegistry(t)
			healthy := startNodes(t, reg, 1)
			unavailable, sel := startUnavailable(t, reg)
			c := newClient(t, client.Options{Registry: reg, Selector: sel, Retries: 3, Source: greeterProtoSource(t)})

			var retried atomic.Int64
			trace := &call.ClientTrace{Retrying: func(*registry.Node, error) { retried.Add(1) }}
			requests := call.NewJSONSupplier(strings.NewReader(tc.requests), nil)
			if err := c.Call(testContext(t), "greeter", tc.endpoint, requests, nil, call.WithTrace(trace)); err != nil {
				t.Fatalf("want the call made again on the healthy node, have %v", err)
			}
			if have := unavailable.calls.Load(); have != 1 {
				t.Errorf("want one run on the unavailable node, have %d", have)
			}
			if have := healthy[0].calls.Load(); have != 1 {
				t.Errorf("want one run on the healthy node, have %d", have)
			}
			if retried.Load() != 1 {
				t.Errorf("want the trace to report one retry, have %d", retried.Load())
			}
		})
	}
}

// With every node unreachable the error lists each attempt with its cause.
func TestClientEveryNodeDown(t *testing.T) {
	reg := newMemoryRegistry(t)
	nodes := startNodes(t, reg, 2)
	for _, nd := range nodes {
		nd.Server.Server.Stop()
	}
	c := newClient(t, client.Options{Registry: reg, Retries: 3, Source: greeterProtoSource(t)})
	_, err := hello(testContext(t), c, "Ada")
	var attempts *client.AttemptsError
	if !errors.As(err, &attempts) || len(attempts.Errors) != 2 {
		t.Fatalf("want an AttemptsError with 2 attempts (one per node), have %v", err)
	}
	var connErr *transport.ConnectError
	if !errors.As(err, &connErr) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("want the real cause, have %v", err)
	}
	for _, nd := range nodes {
		if !strings.Contains(err.Error(), nd.Addr) {
			t.Errorf("the error should name %s: %v", nd.Addr, err)
		}
	}
}

// Errors the node answered with are not retried.
func TestClientDoesNotRetryAnswers(t *testing.T) {
	reg := newMemoryRegistry(t)
	nodes := startNodes(t, reg, 2)
	c := newClient(t, client.Options{Registry: reg, Retries: 3, Source: greeterProtoSource(t)})
	_, err := hello(testContext(t), c, "")
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("want InvalidArgument, have %v", err)
	}
	if total := nodes[0].calls.Load() + nodes[1].calls.Load(); total != 1 {
		t.Errorf("want one call, have %d", total)
	}
}

// The descriptor cache is shared by processes: a second client with the
// same directory asks no server for reflection, and the trace says where
// the method came from.
func TestClientDescriptorCache(t *testing.T) {
	reg := newMemoryRegistry(t)
	nodes := startNodes(t, reg, 1)
	dir := t.TempDir()
	ctx := testContext(t)

	var from []string
	trace := &call.ClientTrace{MethodResolved: func(md protoreflect.MethodDescriptor, source string, _ time.Duration, err error) {
		from = append(from, source)
	}}
	first := newClient(t, client.Options{Registry: reg, CacheDir: dir})
	if _, err := hello(ctx, first, "Ada", call.WithTrace(trace)); err != nil {
		t.Fatal(err)
	}
	first.Close()
	fetched := nodes[0].ReflectionStreams.Load()
	if fetched == 0 {
		t.Fatal("the first call should fetch the descriptors through reflection")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "greeter@1.0.0-") {
		t.Fatalf("want one cache entry for greeter@1.0.0, have %v", entries)
	}

	second := newClient(t, client.Options{Registry: reg, CacheDir: dir})
	if _, err := hello(ctx, second, "Ada", call.WithTrace(trace)); err != nil {
		t.Fatal(err)
	}
	if have := nodes[0].ReflectionStreams.Load(); have != fetched {
		t.Errorf("a warm cache should ask no reflection: %d streams before, %d after", fetched, have)
	}
	if len(from) != 2 || !strings.HasPrefix(from[0], "reflection at ") || !strings.HasPrefix(from[1], "descriptor cache ") {
		t.Errorf("trace sources: %q", from)
	}

	// Refresh fetches again.
	third := newClient(t, client.Options{Registry: reg, CacheDir: dir, Refresh: true})
	if _, err := hello(ctx, third, "Ada"); err != nil {
		t.Fatal(err)
	}
	if nodes[0].ReflectionStreams.Load() == fetched {
		t.Error("Refresh should fetch through reflection again")
	}
}

// Every kind of method through the client, straight to an address.
func TestClientAddress(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	c := newClient(t, client.Options{Address: server.Addr})
	ctx := testContext(t)
	cases := []struct {
		endpoint, input string
		want            []string
	}{
		{"Greeter.Hello", `{"name":"Ada"}`, []string{`{"message":"Hello Ada"}`}},
		{"greeter.v1.Greeter/Stream", `{"name":"Ada","count":2}`, []string{`{"message":"Hello Ada","sequence":1}`, `{"message":"Hello Ada","sequence":2}`}},
		{"Greeter.Collect", `{"name":"Ann"}{"name":"Ben"}`, []string{`{"message":"Hello Ann and Ben","count":2}`}},
		{"greeter.v1.Greeter.Chat", "{\"name\":\"Ann\"}\n{\"name\":\"Ben\"}", []string{`{"message":"Hello Ann","sequence":1}`, `{"message":"Hello Ben","sequence":2}`}},
	}
	for _, tc := range cases {
		t.Run(tc.endpoint, func(t *testing.T) {
			var out strings.Builder
			responses := call.WriteResponses(&out, call.NewJSONFormatter(nil, call.FormatOptions{}))
			err := c.Call(ctx, "greeter", tc.endpoint, call.NewJSONSupplier(strings.NewReader(tc.input), nil), responses)
			if err != nil {
				t.Fatal(err)
			}
			if have := strings.TrimSpace(out.String()); have != strings.Join(tc.want, "\n") {
				t.Errorf("want %q, have %q", tc.want, have)
			}
		})
	}

	// An unknown method lists those that exist; the source describes the
	// service.
	err := c.Call(ctx, "greeter", "Greeter.Goodbye", nil, nil)
	if !errors.Is(err, call.ErrMethodNotFound) || !strings.Contains(err.Error(), "Hello, Stream, Collect, Chat") {
		t.Errorf("want the methods listed, have %v", err)
	}
	src, err := c.Source(ctx, "greeter")
	if err != nil {
		t.Fatal(err)
	}
	services, err := src.ListServices(ctx)
	if err != nil || !strings.Contains(strings.Join(services, " "), "greeter.v1.Greeter") {
		t.Errorf("services: %v %v", services, err)
	}
}

func TestClientUnknownService(t *testing.T) {
	c := newClient(t, client.Options{Registry: newMemoryRegistry(t)})
	err := c.Call(testContext(t), "nosuch", "Greeter.Hello", nil, nil)
	if !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("want ErrNotFound, have %v", err)
	}
	if _, err := client.New(client.Options{}); err == nil {
		t.Error("a client needs a registry or an address")
	}
}

// Concurrent calls without a descriptor cache (each resolves through its
// node's reflection) while a node is killed: none fails, though the
// connection of the dead node is dropped while other calls use it.
func TestClientFailoverConcurrent(t *testing.T) {
	reg := newMemoryRegistry(t)
	nodes := startNodes(t, reg, 3)
	c := newClient(t, client.Options{Registry: reg, Retries: 2})
	ctx := testContext(t)

	const callers, calls = 8, 40
	var wg sync.WaitGroup
	var issued atomic.Int64
	errs := make(chan error, callers*calls)
	for range callers {
		wg.Go(func() {
			for range calls {
				if issued.Add(1) == callers*calls/4 {
					// Going away with GOAWAY: calls in flight end, new
					// ones are refused before they are processed (see
					// TestClientFailover).
					go nodes[0].Server.Server.GracefulStop()
				}
				if _, err := hello(ctx, c, "Ada"); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call failed: %v", err)
	}
}

// A client that makes one attempt (negative Retries, or one Address)
// tries one node, tells the trace of it once, and fails with that
// attempt's error, not an AttemptsError; the same node answers when it
// is up.
func TestClientOneAttempt(t *testing.T) {
	reg := newMemoryRegistry(t)
	nodes := startNodes(t, reg, 2)
	for _, nd := range nodes {
		nd.Server.Server.Stop()
	}
	down := nodes[0].Addr
	for _, tc := range []struct {
		name string
		opts client.Options
	}{
		{"no retries", client.Options{Registry: reg, Retries: -1, Source: greeterProtoSource(t)}},
		{"an address", client.Options{Address: down, Retries: 3, Source: greeterProtoSource(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.opts)
			var selected, retried int
			trace := &call.ClientTrace{
				NodeSelected: func(*registry.Node, string) { selected++ },
				Retrying:     func(*registry.Node, error) { retried++ },
			}
			_, err := hello(testContext(t), c, "Ada", call.WithTrace(trace))
			var connErr *transport.ConnectError
			if !errors.As(err, &connErr) || errors.As(err, new(*client.AttemptsError)) {
				t.Fatalf("want the one attempt's connection error, have %v", err)
			}
			if selected != 1 || retried != 0 {
				t.Errorf("want one node selected and no retry, have %d selected, %d retries", selected, retried)
			}
		})
	}

	up := grpctest.StartGreeter(t, false)
	c := newClient(t, client.Options{Address: up.Addr, Source: greeterProtoSource(t)})
	if have, err := hello(testContext(t), c, "Ada"); err != nil || !strings.Contains(have, "Hello Ada") {
		t.Errorf("want the greeting, have %q, %v", have, err)
	}
}
