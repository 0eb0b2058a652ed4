package client_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/selector"
)

// countingListener counts the connections it accepted and those that
// were closed since.
type countingListener struct {
	net.Listener
	accepted, closed atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	return &countedConn{Conn: conn, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.closed.Add(1) })
	return c.Conn.Close()
}

// greeterNode is a greeter on 127.0.0.1 that counts its connections and calls.
type greeterNode struct {
	addr     string
	listener *countingListener
	calls    atomic.Int64
	stop     func()
}

func startNode(t *testing.T) *greeterNode { t.Helper(); return startNodeAt(t, "127.0.0.1:0") }

// startNodeAt starts a node listening on address.
func startNodeAt(t *testing.T, address string) *greeterNode {
	t.Helper()
	n := &greeterNode{}
	count := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		n.calls.Add(1)
		return next(ctx, req)
	}
	server := grpc.NewServer(grpc.UnaryInterceptor(count))
	greeterpb.RegisterGreeterServer(server, handler.New())
	reflection.Register(server)
	l, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	n.listener = &countingListener{Listener: l}
	n.addr = l.Addr().String()
	n.stop = server.Stop
	go func() { _ = server.Serve(n.listener) }()
	t.Cleanup(server.Stop)
	return n
}

func (n *greeterNode) record(id string) *registry.Service {
	return &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: id, Address: n.addr}}}
}

// oneShot is what `micro call` does in a process of its own: a client with
// the cache directory and RememberNodes, Prepare, one call, Close. It
// returns the trace of the call's connection.
func oneShot(t *testing.T, reg registry.Registry, dir string) (reused bool, waited time.Duration) {
	t.Helper()
	c, err := client.New(client.Options{
		Registry:        reg,
		CacheDir:        dir,
		RememberNodes:   true,
		SelectorOptions: []selector.Option{selector.NoWatch()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := testContext(t)
	c.Prepare(ctx, "greeter", "Greeter.Hello")
	trace := &call.ClientTrace{Connected: func(_ string, took time.Duration, r bool, err error) {
		if err != nil {
			t.Errorf("connect: %v", err)
		}
		reused, waited = r, took
	}}
	if err := c.Call(ctx, "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "Ada"}), nil, call.WithTrace(trace)); err != nil {
		t.Fatalf("call: %v", err)
	}
	return reused, waited
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The second process connects to the node the first one used while the
// registry is read, and its call goes over that connection: the node sees
// one connection per process, never two.
func TestPrepareConnectsAheadToTheNodeOfTheLastCall(t *testing.T) {
	reg := memory.New()
	n := startNode(t)
	if err := reg.Register(testContext(t), n.record("n1")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	oneShot(t, reg, dir) // no hint yet: dials when the registry answered
	c, err := client.New(client.Options{Registry: reg, CacheDir: dir, RememberNodes: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	c.Prepare(testContext(t), "greeter", "Greeter.Hello")
	// Before any call: the connection is opened by Prepare alone.
	waitFor(t, "a connection opened ahead", func() bool { return n.listener.accepted.Load() == 2 })
	if n.calls.Load() != 1 {
		t.Fatalf("Prepare must send no call: the node has %d calls, want the first process's 1", n.calls.Load())
	}
	if err := c.Call(testContext(t), "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "Bo"}), nil); err != nil {
		t.Fatal(err)
	}
	if have := n.listener.accepted.Load(); have != 2 {
		t.Errorf("want the call on the connection opened ahead (2 connections in all), have %d", have)
	}
	if have := n.calls.Load(); have != 2 {
		t.Errorf("want 2 calls on the node, have %d", have)
	}

	reused, _ := oneShot(t, reg, dir)
	if reused {
		t.Errorf("a connection opened ahead is not reported as reused from an earlier call")
	}
	if have := n.listener.accepted.Load(); have != 3 {
		t.Errorf("a third process: want 3 connections in all, have %d", have)
	}
}

// A node that left the registry is never called: the connection Prepare
// opened to it (the last call's node) is closed, and the call goes to the
// node the registry names.
func TestPrepareNeverCallsANodeGoneFromTheRegistry(t *testing.T) {
	reg := memory.New()
	gone, live := startNode(t), startNode(t)
	if err := reg.Register(testContext(t), gone.record("gone")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	oneShot(t, reg, dir) // leaves "gone" as the node of the next call
	if err := reg.Deregister(testContext(t), gone.record("gone")); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(testContext(t), live.record("live")); err != nil {
		t.Fatal(err)
	}

	oneShot(t, reg, dir)
	if have := gone.calls.Load(); have != 1 {
		t.Errorf("the node gone from the registry: want only the first process's call, have %d", have)
	}
	if have := live.calls.Load(); have != 1 {
		t.Errorf("the node in the registry: want 1 call, have %d", have)
	}
	// Prepare dialled it (the dial may not have reached it before the
	// call was over and Close ended the dial).
	if have := gone.listener.accepted.Load(); have > 2 {
		t.Errorf("want at most the connection opened ahead to the node gone (2 in all), have %d", have)
	}
	waitFor(t, "the connection to the node gone closed", func() bool { return gone.listener.closed.Load() == gone.listener.accepted.Load() })

	// The next process connects ahead to the live node.
	oneShot(t, reg, dir)
	if have := live.listener.accepted.Load(); have != 2 {
		t.Errorf("want the third process on a connection opened ahead to the live node (2 in all), have %d", have)
	}
	if have := gone.listener.accepted.Load(); have > 2 {
		t.Errorf("the node gone: want no more connections, have %d", have)
	}
}

// A node that did not listen yet when Prepare dialled it, and does when
// the registry names it, is dialled again for the call: the early dial's
// failure is not the call's.
func TestPrepareDialsAgainWhenTheEarlyDialFailed(t *testing.T) {
	reg := memory.New()
	first := startNode(t)
	if err := reg.Register(testContext(t), first.record("n1")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	oneShot(t, reg, dir) // leaves first.addr for the next call
	first.stop()

	c, err := client.New(client.Options{Registry: reg, CacheDir: dir, RememberNodes: true, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	c.Prepare(testContext(t), "greeter", "Greeter.Hello")
	// The refused dial takes a millisecond or so; give it time to fail.
	time.Sleep(100 * time.Millisecond)
	again := startNodeAt(t, first.addr)
	if err := c.Call(testContext(t), "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "Bo"}), nil); err != nil {
		t.Fatalf("want the call dialled again once the node listens: %v", err)
	}
	if have := again.calls.Load(); have != 1 {
		t.Errorf("want 1 call on the node back at %s, have %d", first.addr, have)
	}
}

// Calls made one process after another spread over the nodes as the
// Random strategy spreads them, each on the connection opened ahead.
func TestPrepareSpreadsCallsOverTheNodes(t *testing.T) {
	reg := memory.New()
	a, b := startNode(t), startNode(t)
	for id, n := range map[string]*greeterNode{"a": a, "b": b} {
		if err := reg.Register(testContext(t), n.record(id)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	const processes = 40
	for range processes {
		oneShot(t, reg, dir)
	}
	if a.calls.Load() == 0 || b.calls.Load() == 0 || a.calls.Load()+b.calls.Load() != processes {
		t.Errorf("want %d calls spread over both nodes, have %d and %d", processes, a.calls.Load(), b.calls.Load())
	}
	// The first process dials when the registry answered; every other
	// one uses the connection it opened ahead, so no process dials twice.
	if have := a.listener.accepted.Load() + b.listener.accepted.Load(); have != processes {
		t.Errorf("want one connection per process (%d), have %d", processes, have)
	}
}

// Processes that make one attempt each (no retries) spread over the nodes
// too, and one whose node was down leaves another node for the next: the
// node left is written whatever the outcome, so a dead node does not keep
// every later process. The dead node is a closed port of 127.0.0.1.
func TestPrepareWithoutRetriesDoesNotStickToANode(t *testing.T) {
	reg := memory.New()
	live := startNode(t)
	dead := startNode(t)
	deadAddr := dead.addr
	dead.stop()
	ctx := testContext(t)
	for id, addr := range map[string]string{"live": live.addr, "dead": deadAddr} {
		svc := &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: id, Address: addr}}}
		if err := reg.Register(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	process := func(retries int) error {
		c, err := client.New(client.Options{
			Registry:        reg,
			CacheDir:        dir,
			RememberNodes:   true,
			Retries:         retries,
			SelectorOptions: []selector.Option{selector.NoWatch()},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		c.Prepare(ctx, "greeter", "Greeter.Hello")
		return c.Call(ctx, "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "Ada"}), nil)
	}
	// Calls with retries first (they fail over from the dead node), which
	// leave a node for the next process.
	for range 5 {
		if err := process(0); err != nil {
			t.Fatalf("a call with retries: %v", err)
		}
	}
	live.calls.Store(0)
	const processes = 40
	failed := 0
	for range processes {
		if process(-1) != nil {
			failed++
		}
	}
	if live := int(live.calls.Load()); live+failed != processes || live == 0 || failed == 0 {
		t.Errorf("want %d one-attempt processes spread over the live and the dead node, have %d calls on the live one and %d failed", processes, live, failed)
	}
}
