package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/examples/relay/handler"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
)

// The transport tests run the mucp fixture (internal/mucp/mucpgreeter),
// which stands in for a default go-micro service (mucp over http) since
// go-micro cannot be built here: registered in Consul with go-micro's tag
// encoding, or answering go-micro's NATS registry queries.

// startMucp runs one mucp fixture process registered in b ("consul" or
// "nats" at addr) and returns it with its address once it listens.
func startMucp(t *testing.T, registryName, registryAddr, name string) (*process, string) {
	t.Helper()
	p := start(t, env(), mucpBin, "--name", name, "--registry", registryName, "--registry-address", registryAddr, "--ttl", "60s")
	listening := regexp.MustCompile(`listening on (\S+)`)
	var addr string
	testutil.Eventually(t, 20*time.Second, func() error {
		m := listening.FindStringSubmatch(p.Output())
		if m == nil {
			return fmt.Errorf("the mucp fixture has not said where it listens: %q", p.Output())
		}
		addr = m[1]
		return nil
	})
	return p, addr
}

// waitListed waits until `micro list services -o json` shows name with
// nodes nodes and endpoints, and returns the record.
func waitListed(t *testing.T, environ []string, name string, nodes int) *registry.Service {
	t.Helper()
	var found *registry.Service
	testutil.Eventually(t, 20*time.Second, func() error {
		res := micro(t, environ, "list", "services", "-o", "json")
		if res.code != 0 {
			return fmt.Errorf("list services: %s", res)
		}
		var services []*registry.Service
		if err := json.Unmarshal([]byte(res.stdout), &services); err != nil {
			return fmt.Errorf("list services -o json: %v: %s", err, res.stdout)
		}
		n := 0
		for _, svc := range services {
			if svc.Name == name {
				found = svc
				n += len(svc.Nodes)
			}
		}
		if n != nodes || found == nil || len(found.Endpoints) == 0 {
			return fmt.Errorf("want %s with %d nodes and its endpoints listed, have %s", name, nodes, res.stdout)
		}
		return nil
	})
	return found
}

// checkMucpCalls is what both registries must show of a mucp service:
// listed with its endpoints, called with JSON and with protobuf, described
// from its record, and a server error exiting with the mapped code.
func checkMucpCalls(t *testing.T, environ []string, name string) {
	t.Helper()
	rec := waitListed(t, environ, name, 1)
	if rec.Nodes[0].Metadata["server"] != "mucp" || rec.Endpoints[0].Name != "Greeter.Hello" {
		t.Fatalf("record: %+v", rec)
	}

	res := micro(t, environ, "call", name, "Greeter.Hello", `{"name":"Ada"}`, "-o", "json")
	if res.code != 0 || strings.TrimSpace(res.stdout) != `{"message":"Hello Ada"}` {
		t.Fatalf("call with JSON: %s", res)
	}

	// The one-argument form: the method alone, or Service.Method.
	for _, joined := range []string{name + ".Hello", name + ".Greeter.Hello"} {
		res = micro(t, environ, "call", joined, `{"name":"Ada"}`, "-o", "json")
		if res.code != 0 || strings.TrimSpace(res.stdout) != `{"message":"Hello Ada"}` {
			t.Fatalf("call %s: %s", joined, res)
		}
	}

	res = micro(t, environ, "call", name, "Greeter.Hello", `{"name":"Ada"}`, "-o", "json",
		"--proto", "greeter.proto", "--import-path", "../examples/greeter/proto")
	if res.code != 0 || strings.TrimSpace(res.stdout) != `{"message":"Hello Ada"}` {
		t.Fatalf("call with protobuf (--proto): %s", res)
	}

	res = micro(t, environ, "describe", name)
	for _, want := range []string{"registry record", "Greeter.Hello(Request) returns (Response)", "name string", "message string"} {
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Fatalf("describe: want %q in it: %s", want, res)
		}
	}

	res = micro(t, environ, "call", name, "Greeter.Fail", `{"code":404,"detail":"no such greeting"}`)
	assertCleanError(t, res, 64+5, "no such greeting", "NotFound")

	res = micro(t, environ, "call", name, "Greeter.Hello", `{"name":""}`)
	assertCleanError(t, res, 64+3, "name must not be empty", "InvalidArgument")
}

func TestMucpServiceInConsul(t *testing.T) {
	b, agent := consulBackend(t)
	startMucp(t, "consul", agent.Addr(), "legacy")
	checkMucpCalls(t, env(b.env...), "legacy")
}

func TestMucpServiceInNATS(t *testing.T) {
	addr, _ := startMicroServer(t)
	b := backend{name: "nats", env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + addr}}
	_, nodeAddr := startMucp(t, "nats", "nats://"+addr, "legacy")
	checkMucpCalls(t, env(b.env...), "legacy")

	// Without the registry, --transport http says what the node speaks.
	res := micro(t, env(b.env...), "call", "legacy", "Greeter.Hello", `{"name":"Cy"}`, "-o", "json", "--address", nodeAddr, "--transport", "http")
	if res.code != 0 || strings.TrimSpace(res.stdout) != `{"message":"Hello Cy"}` {
		t.Fatalf("call --address --transport http: %s", res)
	}
}

// TestMucpFailoverAfterKill kills one of two mucp nodes with SIGKILL: it
// stays registered (passing) until its check's TTL runs out, so calls meet
// it dead and go to the other node. No call fails.
func TestMucpFailoverAfterKill(t *testing.T) {
	b, agent := consulBackend(t)
	victim, _ := startMucp(t, "consul", agent.Addr(), "legacy")
	startMucp(t, "consul", agent.Addr(), "legacy")
	environ := env(b.env...)
	waitListed(t, environ, "legacy", 2)
	victim.signal(syscall.SIGKILL)
	victim.wait(t, 10*time.Second)

	deadOnes := 0
	for i := range 12 {
		res := micro(t, environ, "call", "legacy", "Greeter.Node", "{}", "-o", "json", "-v")
		if res.code != 0 {
			t.Fatalf("call %d after the kill: %s", i, res)
		}
		if strings.Contains(res.stderr, "failed; tried another node") {
			deadOnes++ // met the dead node first, then the other
		}
	}
	services, _ := getService(t, b, "legacy")
	if countNodes(services) != 2 {
		t.Fatalf("the killed node should still be registered (its TTL has not run out): %+v", services)
	}
	t.Logf("%d of 12 calls met the killed node first and failed over", deadOnes)
	if deadOnes == 0 {
		t.Error("no call met the killed node: the test shows no failover (each picks a node at random: 1 in 4096)")
	}
}

// TestMixedTransports: a registry holding a gRPC service (greeter) and a
// mucp one (legacy): each is called by its own transport.
func TestMixedTransports(t *testing.T) {
	b, agent := consulBackend(t)
	startGreeter(t, b)
	startMucp(t, "consul", agent.Addr(), "legacy")
	environ := env(b.env...)
	waitListed(t, environ, "legacy", 1)
	testutil.Eventually(t, 20*time.Second, func() error {
		services, res := getService(t, b, "greeter")
		if countNodes(services) != 1 {
			return fmt.Errorf("greeter not registered yet: %s", res)
		}
		return nil
	})
	res := micro(t, environ, "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`, "-o", "json", "-v")
	if res.code != 0 || strings.TrimSpace(res.stdout) != `{"message":"Hello Ada"}` || !strings.Contains(res.stderr, "greeter.v1.Greeter/Hello") {
		t.Fatalf("grpc call: %s", res)
	}
	res = micro(t, environ, "call", "legacy", "Greeter.Hello", `{"name":"Bo"}`, "-o", "json", "-v")
	if res.code != 0 || strings.TrimSpace(res.stdout) != `{"message":"Hello Bo"}` || !strings.Contains(res.stderr, "mucp over http") {
		t.Fatalf("mucp call: %s", res)
	}
}

// TestRelayCallsGreeterByName: the relay example calls greeter by name
// through its generated stubs over pkg/client's resolver and balancer.
// With three greeter nodes, round robin spreads its calls over all three;
// after one is killed with SIGKILL under load, no call fails: calls that
// had not reached it go to another node, and those in flight on it are
// made again because relay declares Hello idempotent (see
// pkg/client TestDialRetriesOnlyIdempotentCallsInFlight for the rule
// without that).
func TestRelayCallsGreeterByName(t *testing.T) {
	srv, _ := startMicroServer(t)
	b := backend{name: "nats", env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + srv}}
	victim := startGreeter(t, b)
	startGreeter(t, b)
	startGreeter(t, b)
	r := natsRegistry(t, "nats://"+srv)
	waitNodes(t, r, 3, 30*time.Second)
	start(t, env(append([]string{"MICRO_SERVER_ADDRESS=127.0.0.1:0"}, b.env...)...), relayBin)
	var relayAddr string
	testutil.Eventually(t, 20*time.Second, func() error {
		services, err := r.GetService(context.Background(), "relay")
		if err != nil || countNodes(services) != 1 {
			return fmt.Errorf("relay not registered: %v", err)
		}
		relayAddr = services[0].Nodes[0].Address
		return nil
	})
	conn, err := grpc.NewClient(relayAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	relay := greeterpb.NewGreeterClient(conn)
	greeterNodes := map[string]bool{}
	services, _ := r.GetService(context.Background(), "greeter")
	for _, svc := range services {
		for _, n := range svc.Nodes {
			greeterNodes[n.Address] = true
		}
	}

	var mu sync.Mutex
	byNode := map[string]int{}
	var ok, failed atomic.Int64
	var errs sync.Map
	hello := func(ctx context.Context) {
		var header metadata.MD
		resp, err := relay.Hello(ctx, &greeterpb.HelloRequest{Name: "load"}, grpc.Header(&header))
		if err != nil || resp.GetMessage() != "Hello load" {
			failed.Add(1)
			errs.Store(fmt.Sprint(err), true)
			return
		}
		ok.Add(1)
		if from := header.Get(handler.HeaderNode); len(from) == 1 {
			mu.Lock()
			byNode[from[0]]++
			mu.Unlock()
		}
	}
	// Round robin: one caller, 90 calls, all three nodes ready.
	testutil.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		mu.Lock()
		byNode = map[string]int{}
		mu.Unlock()
		for range 90 {
			hello(ctx)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(byNode) != 3 {
			return fmt.Errorf("calls went to %d nodes, want 3: %v", len(byNode), byNode)
		}
		for addr, n := range byNode {
			if !greeterNodes[addr] || n < 25 || n > 35 {
				return fmt.Errorf("round robin should give each node about 30 of 90 calls: %v", byNode)
			}
		}
		return nil
	})
	t.Logf("round robin over 90 calls: %v", byNode)
	ok.Store(0)
	failed.Store(0)

	// Load from 20 callers; one greeter node is killed under it.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				callCtx, callCancel := context.WithTimeout(context.Background(), 5*time.Second)
				hello(callCtx)
				callCancel()
			}
		}()
	}
	waitOK := func(n int64) {
		target := ok.Load() + n
		testutil.Eventually(t, 30*time.Second, func() error {
			if ok.Load() < target {
				return fmt.Errorf("%d calls succeeded, waiting for %d", ok.Load(), target)
			}
			return nil
		})
	}
	waitOK(500)
	victim.signal(syscall.SIGKILL)
	victim.wait(t, 10*time.Second)
	waitOK(2000)
	cancel()
	wg.Wait()
	var messages []string
	errs.Range(func(k, _ any) bool { messages = append(messages, k.(string)); return true })
	t.Logf("load through relay: %d calls succeeded, %d failed %v", ok.Load(), failed.Load(), messages)
	if failed.Load() != 0 {
		t.Errorf("%d calls failed after the kill: %v", failed.Load(), messages)
	}
}
