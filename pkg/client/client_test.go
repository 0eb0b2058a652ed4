package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/mucp"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/selector"
	"github.com/microtools/micro/pkg/transport"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startMucp starts the mucp fixture (a stand-in for a default go-micro
// service, see internal/mucp) and registers it in reg.
func startMucp(t *testing.T, reg registry.Registry, name string) *mucp.Server {
	t.Helper()
	srv, err := mucp.Listen(name, "1.0.0", "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if err := reg.Register(testContext(t), srv.Record()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// grpcGreeter is a greeter on 127.0.0.1 that counts its calls.
type grpcGreeter struct {
	addr   string
	server *grpc.Server
	calls  atomic.Int64
}

func startGRPC(t *testing.T, reg registry.Registry, name, id string) *grpcGreeter {
	t.Helper()
	g := &grpcGreeter{}
	count := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		g.calls.Add(1)
		return next(ctx, req)
	}
	g.server = grpc.NewServer(grpc.UnaryInterceptor(count))
	greeterpb.RegisterGreeterServer(g.server, handler.New())
	reflection.Register(g.server)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = l.Addr().String()
	go func() { _ = g.server.Serve(l) }()
	t.Cleanup(g.server.Stop)
	svc := &registry.Service{Name: name, Version: "1.0.0", Nodes: []*registry.Node{{ID: id, Address: g.addr, Metadata: map[string]string{"protocol": "grpc", "server": "grpc", "transport": "grpc"}}}}
	if err := reg.Register(testContext(t), svc); err != nil {
		t.Fatal(err)
	}
	return g
}

func newClient(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		md   map[string]string
		want client.Kind
	}{
		{nil, client.KindGRPC},
		{map[string]string{"protocol": "grpc", "server": "grpc", "transport": "grpc"}, client.KindGRPC},
		{map[string]string{"protocol": "mucp", "server": "mucp", "transport": "http"}, client.KindMucp},
		{map[string]string{"server": "mucp", "transport": "http"}, client.KindMucp},
		{map[string]string{"transport": "http"}, client.KindMucp},
		{map[string]string{"protocol": "mucp", "server": "mucp", "transport": "nats"}, client.KindUnsupported},
		{map[string]string{"protocol": "http", "server": "kratos"}, client.KindUnsupported},
	}
	for _, tt := range tests {
		if have := client.KindOf(&registry.Node{Metadata: tt.md}); have != tt.want {
			t.Errorf("KindOf(%v): want %s, have %s", tt.md, tt.want, have)
		}
	}
}

func TestCallJSONToMucp(t *testing.T) {
	reg := memory.New()
	startMucp(t, reg, "legacy")
	c := newClient(t, client.Options{Registry: reg})
	if kind, err := c.Kind(testContext(t), "legacy"); err != nil || kind != client.KindMucp {
		t.Fatalf("Kind: %s %v", kind, err)
	}
	resp, err := c.CallJSON(testContext(t), "legacy", "Greeter.Hello", []byte(`{"name":"Ada"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Message string }
	if err := json.Unmarshal(resp.Body, &out); err != nil || out.Message != "Hello Ada" {
		t.Fatalf("response %s: %v", resp.Body, err)
	}

	_, err = c.CallJSON(testContext(t), "legacy", "Greeter.Fail", []byte(`{"code":404,"detail":"no such greeting"}`), nil)
	var te *transport.Error
	if !errors.As(err, &te) || status.Code(err) != codes.NotFound || te.Detail != "no such greeting" {
		t.Fatalf("want NotFound with the detail, have %v", err)
	}
}

func TestMucpFailoverToAnotherNode(t *testing.T) {
	reg := memory.New()
	alive := startMucp(t, reg, "legacy")
	dead := startMucp(t, reg, "legacy")
	_ = dead.Close() // registered, not listening: as after kill -9
	c := newClient(t, client.Options{Registry: reg, Retries: 2, SelectorOptions: []selector.Option{selector.UseStrategy(selector.RoundRobin())}})
	metDead := 0
	defer func() {
		if metDead == 0 {
			t.Error("no call met the dead node: the test shows no failover")
		}
	}()
	for i := range 10 {
		resp, err := c.CallJSON(testContext(t), "legacy", "Greeter.Node", nil, nil)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.Node.ID != alive.NodeID {
			t.Fatalf("call %d answered by %s", i, resp.Node.ID)
		}
		metDead += len(resp.Failed)
	}
}

func TestServerErrorIsNotRetried(t *testing.T) {
	reg := memory.New()
	a := startMucp(t, reg, "legacy")
	b := startMucp(t, reg, "legacy")
	c := newClient(t, client.Options{Registry: reg, Retries: 2})
	if _, err := c.CallJSON(testContext(t), "legacy", "Greeter.Fail", []byte(`{"code":503}`), nil); status.Code(err) != codes.Unavailable {
		t.Fatalf("want Unavailable, have %v", err)
	}
	if calls := a.Calls() + b.Calls(); calls != 1 {
		t.Fatalf("a call a server answered was sent %d times", calls)
	}
}

func TestMixedRegistryEachByItsTransport(t *testing.T) {
	reg := memory.New()
	g := startGRPC(t, reg, "greeter", "greeter-1")
	m := startMucp(t, reg, "legacy")
	c := newClient(t, client.Options{Registry: reg})

	var got []string
	handler := call.HandlerFuncs{Response: func(msg proto.Message) error {
		data, _ := json.Marshal(msg.ProtoReflect().Get(msg.ProtoReflect().Descriptor().Fields().ByName("message")).String())
		got = append(got, string(data))
		return nil
	}}
	if err := c.Call(testContext(t), "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "Ada"}), handler); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != `"Hello Ada"` || g.calls.Load() != 1 {
		t.Fatalf("grpc call: %v (%d calls)", got, g.calls.Load())
	}
	if _, err := c.CallJSON(testContext(t), "legacy", "Greeter.Hello", []byte(`{"name":"Bo"}`), nil); err != nil || m.Calls() != 1 {
		t.Fatalf("mucp call: %v (%d calls)", err, m.Calls())
	}
}

func TestCallMucpWithProto(t *testing.T) {
	reg := memory.New()
	m := startMucp(t, reg, "legacy")
	src, err := call.NewProtoSource(testContext(t), []string{"../../examples/greeter/proto"}, "greeter.proto")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, client.Options{Registry: reg, Source: src})
	var message string
	handler := call.HandlerFuncs{Response: func(msg proto.Message) error {
		message = msg.ProtoReflect().Get(msg.ProtoReflect().Descriptor().Fields().ByName("message")).String()
		return nil
	}}
	if err := c.Call(testContext(t), "legacy", "greeter.v1.Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "Ada"}), handler); err != nil {
		t.Fatal(err)
	}
	if message != "Hello Ada" {
		t.Fatalf("message %q", message)
	}
	if ct := m.LastHeaders().Get("Content-Type"); ct != "application/protobuf" {
		t.Fatalf("content type %q", ct)
	}
	err = c.Call(testContext(t), "legacy", "greeter.v1.Greeter.Stream", nil, nil)
	if !errors.Is(err, transport.ErrStreamsUnsupported) {
		t.Fatalf("a stream to a mucp node: want ErrStreamsUnsupported, have %v", err)
	}
}

func TestResolveMucpEndpoint(t *testing.T) {
	endpoints := []*registry.Endpoint{{Name: "Greeter.Hello"}, {Name: "Greeter.Fail"}, {Name: "Other.Hello"}}
	tests := []struct{ in, want, wantErr string }{
		{"Greeter.Hello", "Greeter.Hello", ""},
		{"greeter.v1.Greeter.Hello", "Greeter.Hello", ""},
		{"greeter.v1.Greeter/Hello", "Greeter.Hello", ""},
		{"Fail", "Greeter.Fail", ""},
		{"Hello", "", "ambiguous"},
		{"Nope", "", "not found"},
	}
	for _, tt := range tests {
		have, err := client.ResolveMucpEndpoint(endpoints, tt.in)
		if have != tt.want || (tt.wantErr == "") != (err == nil) {
			t.Errorf("ResolveMucpEndpoint(%q): want %q %q, have %q %v", tt.in, tt.want, tt.wantErr, have, err)
		}
	}
}

func TestDialRoundRobinAndFailover(t *testing.T) {
	reg := memory.New()
	nodes := []*grpcGreeter{
		startGRPC(t, reg, "greeter", "greeter-1"),
		startGRPC(t, reg, "greeter", "greeter-2"),
		startGRPC(t, reg, "greeter", "greeter-3"),
	}
	startMucp(t, reg, "greeter") // a mucp node of the same name is never picked
	conn, err := client.Dial("greeter", client.DialOptions{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	stub := greeterpb.NewGreeterClient(conn)
	// Wait until all three are ready, then count a round of calls.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := stub.Hello(testContext(t), &greeterpb.HelloRequest{Name: "warm"}); err != nil {
			t.Fatal(err)
		}
		if nodes[0].calls.Load() > 0 && nodes[1].calls.Load() > 0 && nodes[2].calls.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every node got calls: %d %d %d", nodes[0].calls.Load(), nodes[1].calls.Load(), nodes[2].calls.Load())
		}
	}
	before := []int64{nodes[0].calls.Load(), nodes[1].calls.Load(), nodes[2].calls.Load()}
	for range 30 {
		if _, err := stub.Hello(testContext(t), &greeterpb.HelloRequest{Name: "Ada"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range nodes {
		if got := n.calls.Load() - before[i]; got != 10 {
			t.Errorf("round robin: node %d got %d of 30 calls, want 10", i+1, got)
		}
	}

	// Under load, one node stops: no call fails.
	var wg sync.WaitGroup
	var failed, ok atomic.Int64
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := stub.Hello(testContext(t), &greeterpb.HelloRequest{Name: "load"}); err != nil {
					failed.Add(1)
					t.Logf("call failed: %v", err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	nodes[0].server.GracefulStop()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d calls failed, %d succeeded", failed.Load(), ok.Load())
	}
}

func TestDialFilters(t *testing.T) {
	reg := memory.New()
	startGRPC(t, reg, "greeter", "greeter-1")
	conn, err := client.Dial("greeter", client.DialOptions{Registry: reg, Filters: []selector.Filter{client.VersionFilter("9.9.9")}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = greeterpb.NewGreeterClient(conn).Hello(ctx, &greeterpb.HelloRequest{Name: "Ada"})
	if err == nil {
		t.Fatal("a call with no node passing the filters succeeded")
	}
}

// TestDialRetriesOnlyIdempotentCallsInFlight: a node that dies with calls
// in flight fails them (they may have reached it), unless the method is
// declared idempotent, when they are made again on another node.
func TestDialRetriesOnlyIdempotentCallsInFlight(t *testing.T) {
	for _, tt := range []struct {
		name       string
		idempotent []string
		wantFailed bool
	}{
		{"strict", nil, true},
		{"idempotent", []string{"greeter.v1.Greeter/Hello"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := memory.New()
			victim := startGRPC(t, reg, "greeter", "greeter-1")
			other := startGRPC(t, reg, "greeter", "greeter-2")
			conn, err := client.Dial("greeter", client.DialOptions{Registry: reg, Idempotent: tt.idempotent})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			stub := greeterpb.NewGreeterClient(conn)
			for i := 0; victim.calls.Load() == 0 || other.calls.Load() == 0; i++ { // both nodes ready
				if i == 1000 {
					t.Fatal("1000 calls and not both nodes got one")
				}
				if _, err := stub.Hello(testContext(t), &greeterpb.HelloRequest{Name: "warm"}); err != nil {
					t.Fatal(err)
				}
			}
			// Slow calls, round robin: half of them are in flight on the victim.
			delay := int64(1000)
			before := victim.calls.Load()
			var wg sync.WaitGroup
			var failed atomic.Int64
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := stub.Hello(testContext(t), &greeterpb.HelloRequest{Name: "slow", DelayMs: &delay}); err != nil {
						if status.Code(err) != codes.Unavailable {
							t.Errorf("want Unavailable, have %v", err)
						}
						failed.Add(1)
					}
				}()
			}
			deadline := time.Now().Add(5 * time.Second)
			for victim.calls.Load()-before < 3 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if victim.calls.Load()-before == 0 {
				t.Fatal("no slow call reached the victim")
			}
			victim.server.Stop() // abrupt: connections closed under the calls
			wg.Wait()
			if got := failed.Load() > 0; got != tt.wantFailed {
				t.Fatalf("%d calls failed; want failures: %v", failed.Load(), tt.wantFailed)
			}
		})
	}
}
