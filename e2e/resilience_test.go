package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	natsbroker "github.com/microtools/micro/pkg/broker/nats"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	consulregistry "github.com/microtools/micro/pkg/registry/consul"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

// The resilience tests put real greeter processes under load through a
// client.Client (registry + selector + connection pool + failover), then
// break something: a node killed with SIGKILL, the registry stopped and
// restarted, the broker restarted under a durable subscription. Each is
// bounded in calls and in time.

const (
	loadCallers  = 20
	loadMaxCalls = 200_000 // an upper bound; the phases end the load long before
)

// load calls Greeter.Hello from loadCallers goroutines until stop is
// called, and counts what happened.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       map[string]int
	cancel     context.CancelFunc
	done       sync.WaitGroup
}

func startLoad(t *testing.T, c *client.Client) *load {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	l := &load{errs: map[string]int{}, cancel: cancel}
	var issued atomic.Int64
	for range loadCallers {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for ctx.Err() == nil && issued.Add(1) <= loadMaxCalls {
				callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
				err := c.Call(callCtx, "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "load"}), nil)
				callCancel()
				switch {
				case err == nil:
					l.ok.Add(1)
				case ctx.Err() != nil:
					// the load was stopped during this call: not a failure
				default:
					l.failed.Add(1)
					l.mu.Lock()
					l.errs[err.Error()]++
					l.mu.Unlock()
					// A caller that failed backs off a little, so that
					// fast failures do not use up the bound on calls.
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) stop() {
	l.cancel()
	l.done.Wait()
}

// waitCalls waits until n more calls succeeded than when it was called,
// so that every phase of a test is seen to carry load.
func (l *load) waitCalls(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	target := l.ok.Load() + n
	testutil.Eventually(t, within, func() error {
		if have := l.ok.Load(); have < target {
			return fmt.Errorf("%d calls succeeded, waiting for %d (%d failed: %s)", have, target, l.failed.Load(), l.someErrors())
		}
		return nil
	})
}

// someErrors lists the distinct errors seen, at most three.
func (l *load) someErrors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for msg, n := range l.errs {
		if len(out) == 3 {
			break
		}
		out = append(out, fmt.Sprintf("%d× %s", n, msg))
	}
	return strings.Join(out, "; ")
}

func (l *load) assertNoFailures(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("calls: %d succeeded, %d failed", l.ok.Load(), l.failed.Load())
	if l.failed.Load() != 0 {
		t.Errorf("%d calls failed:", l.failed.Load())
		for msg, n := range l.errs {
			t.Errorf("  %d× %s", n, msg)
		}
	}
}

func newClient(t *testing.T, r registry.Registry) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Registry: r, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitNodes waits until r lists want nodes of greeter.
func waitNodes(t *testing.T, r registry.Registry, want int, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		services, err := r.GetService(ctx, "greeter")
		if err != nil {
			return err
		}
		if have := countNodes(services); have != want {
			return fmt.Errorf("%d greeter nodes registered, want %d", have, want)
		}
		return nil
	})
}

func natsRegistry(t *testing.T, url string) registry.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := natsregistry.New(ctx, natsregistry.WithURL(url), natsregistry.WithReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestResilienceKillNode kills one of three nodes with SIGKILL under a load
// of 20 callers: the node stays registered until its TTL runs out, so the
// client meets it dead, ejects it and fails over. No call may fail.
func TestResilienceKillNode(t *testing.T) {
	srv := testenv.NATS(t)
	b := backend{name: "nats", env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + srv.URL()}}
	r := natsRegistry(t, srv.URL())
	victim := startGreeter(t, b)
	startGreeter(t, b)
	startGreeter(t, b)
	waitNodes(t, r, 3, 30*time.Second)

	l := startLoad(t, newClient(t, r))
	l.waitCalls(t, 500, 30*time.Second)
	victim.signal(syscall.SIGKILL)
	victim.wait(t, 10*time.Second)
	l.waitCalls(t, 2000, 30*time.Second)
	// Past the TTL the record is gone: the survivors carry the load alone.
	waitNodes(t, r, 2, 3*greeterTTL+10*time.Second)
	l.waitCalls(t, 500, 30*time.Second)
	l.stop()
	l.assertNoFailures(t)
}

// TestResilienceRegistryRestart stops the registry under load: calls keep
// succeeding from the selector's cache, and after the restart every
// service is registered again.
func TestResilienceRegistryRestart(t *testing.T) {
	t.Run("consul", func(t *testing.T) {
		agent := testenv.Consul(t)
		b := backend{name: "consul", env: []string{"MICRO_REGISTRY=consul", "MICRO_REGISTRY_ADDRESS=" + agent.Addr()}}
		r, err := consulregistry.New(consulregistry.Address(agent.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		// Down for longer than the greeters' TTL: the selector's cache must
		// not expire what the registry cannot confirm.
		runRegistryRestart(t, b, r, greeterTTL+time.Second, func() { agent.Stop() }, func() { agent.Restart(t) })
	})
	t.Run("nats", func(t *testing.T) {
		srv := testenv.NATS(t)
		b := backend{name: "nats", env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + srv.URL()}}
		// Down for longer than the greeters' TTL, as for Consul: the
		// registry's watcher expires nothing while it cannot reach the
		// server, and gives the services one TTL to heartbeat once it is
		// back, so the selector's cache keeps every node.
		r := natsRegistry(t, srv.URL())
		runRegistryRestart(t, b, r, greeterTTL+time.Second, srv.Stop, func() { srv.Restart(t) })
	})
}

func runRegistryRestart(t *testing.T, b backend, r registry.Registry, outage time.Duration, stopRegistry, restartRegistry func()) {
	for range 3 {
		startGreeter(t, b)
	}
	waitNodes(t, r, 3, 30*time.Second)

	l := startLoad(t, newClient(t, r))
	l.waitCalls(t, 500, 30*time.Second)
	stopRegistry()
	during := l.ok.Load()
	time.Sleep(outage)
	if l.ok.Load()-during < 100 {
		t.Errorf("only %d calls succeeded in %s without a registry", l.ok.Load()-during, outage)
	}
	restartRegistry()
	waitNodes(t, r, 3, 30*time.Second)
	back := time.Now()
	l.waitCalls(t, 500, 30*time.Second)
	t.Logf("500 more calls succeeded within %s of the nodes being registered again", time.Since(back))
	l.stop()
	l.assertNoFailures(t)
}

// TestResilienceBrokerRestart restarts the NATS server in the middle of a
// durable subscription: the subscriber reconnects and every message the
// publisher had acknowledged arrives.
func TestResilienceBrokerRestart(t *testing.T) {
	const total = 400
	srv := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	newBroker := func() *natsbroker.Broker {
		b, err := natsbroker.New(ctx, natsbroker.WithURL(srv.URL()), natsbroker.WithReconnectWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	sub, pub := newBroker(), newBroker()
	topic := "resilience.orders"

	var mu sync.Mutex
	seen := map[string]int{}
	// A slow handler, so that messages are still waiting in the stream
	// when the server goes down.
	_, err := sub.Subscribe(ctx, topic, broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) error {
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
		}
		mu.Lock()
		seen[string(msg.Body)]++
		mu.Unlock()
		return nil
	}), broker.Durable("resilience"), broker.CreateStream())
	if err != nil {
		t.Fatal(err)
	}
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}

	// publish retries each message until the stream acknowledges it, as a
	// publisher that wants at-least-once delivery does.
	publish := func(i int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			err := pub.Publish(pctx, topic, &broker.Message{Body: []byte(strconv.Itoa(i))}, broker.JetStream(), broker.CreateStream())
			pcancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %d: not acknowledged within 30s: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range total / 2 {
		publish(i)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := received(); n < total/4 {
			return fmt.Errorf("%d of %d received before the restart", n, total/2)
		}
		return nil
	})

	srv.Stop()
	if n := received(); n >= total/2 {
		t.Logf("all %d messages of the first half were in before the restart: the test proves less than it should", n)
	} else {
		t.Logf("%d of the first %d messages were still waiting in the stream at the restart", total/2-n, total/2)
	}
	time.Sleep(500 * time.Millisecond)
	srv.Restart(t)
	for i := total / 2; i < total; i++ {
		publish(i)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := received(); n < total {
			return fmt.Errorf("%d of %d distinct messages received", n, total)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	var missing []string
	for i := range total {
		if seen[strconv.Itoa(i)] == 0 {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	if len(missing) > 0 {
		t.Errorf("lost %d messages: %s", len(missing), strings.Join(missing, " "))
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("test ran out of time: %v", err)
	}
}

// TestBenchCommand runs `micro bench` as a user would, against micro server
// and three greeters: every call succeeds and the calls are spread over the
// nodes; a threshold that cannot be met makes the exit status non-zero.
func TestBenchCommand(t *testing.T) {
	b := natsBackend(t)
	for range 3 {
		startGreeter(t, b)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		services, res := getService(t, b, "greeter")
		if n := countNodes(services); n != 3 {
			return fmt.Errorf("%d greeter nodes registered: %s", n, res)
		}
		return nil
	})
	cache := "XDG_CACHE_HOME=" + t.TempDir()

	res := micro(t, env(append(b.env, cache)...), "bench", "greeter", "Greeter.Hello", `{"name":"user-{{.RequestNumber}}"}`, "-n", "200", "-c", "4", "-o", "json")
	if res.code != 0 {
		t.Fatalf("bench -n 200 -c 4: %s", res)
	}
	var summary struct {
		Count       int            `json:"count"`
		Failed      int            `json:"failed"`
		RPS         float64        `json:"rps"`
		StatusCodes map[string]int `json:"status_codes"`
		LatencyMs   map[string]float64
		Nodes       []struct {
			Address string `json:"address"`
			Count   int    `json:"count"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &summary); err != nil {
		t.Fatalf("bench -o json printed what is not JSON: %v\n%s", err, res)
	}
	if summary.Count != 200 || summary.Failed != 0 || summary.StatusCodes["OK"] != 200 || summary.RPS <= 0 {
		t.Errorf("want 200 calls, all OK, a positive rps; have %s", res.stdout)
	}
	if len(summary.Nodes) != 3 {
		t.Fatalf("want the calls spread over 3 nodes, have %+v", summary.Nodes)
	}
	for _, n := range summary.Nodes {
		if n.Count < 50 { // round robin: about 67 each
			t.Errorf("node %s served only %d of 200 calls", n.Address, n.Count)
		}
	}

	res = micro(t, env(append(b.env, cache)...), "bench", "greeter", "Greeter.Hello", `{"name":"x"}`, "-n", "50", "-c", "2", "--max-p99", "1ns")
	if res.code != 1 || !strings.Contains(res.stderr, "--max-p99") || !strings.Contains(res.stdout, "Requests/sec") {
		t.Errorf("a p99 above --max-p99: want exit 1 after the summary, with the threshold named; have %s", res)
	}
	// Every fifth call has no name, which the greeter refuses.
	failing := `{"name":"{{if eq (mod .RequestNumber 5) 4}}{{else}}x{{end}}"}`
	res = micro(t, env(append(b.env, cache)...), "bench", "greeter", "Greeter.Hello", failing, "-n", "20", "-c", "2")
	if res.code != 1 || !strings.Contains(res.stdout, "[InvalidArgument]  4") || !strings.Contains(res.stdout, "name is required") {
		t.Errorf("4 of 20 calls failing: want exit 1 with the code and error counted; have %s", res)
	}
	res = micro(t, env(append(b.env, cache)...), "bench", "greeter", "Greeter.Hello", failing, "-n", "20", "-c", "2", "--max-error-rate", "0.5")
	if res.code != 0 {
		t.Errorf("an error rate of 0.2 under --max-error-rate 0.5: want exit 0, have %s", res)
	}
}
