package selector_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
)

var errUnavailable = status.Error(codes.Unavailable, "connection refused")

func TestNewOptions(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	cases := []struct {
		name    string
		opts    []selector.Option
		wantErr string
	}{
		{"registry only", []selector.Option{selector.Registry(reg)}, ""},
		{"every option", []selector.Option{
			selector.Registry(reg), selector.UseStrategy(selector.LeastInFlight()),
			selector.EjectBackoff(time.Second, time.Minute), selector.EjectWhen(selector.IsConnectionError),
			selector.CacheTTL(time.Minute), selector.WatchBackoff(time.Second, time.Minute),
			selector.RegistryTimeout(time.Second), selector.Clock(time.Now), selector.Logger(nil),
		}, ""},
		{"no registry", nil, "selector: no registry"},
		{"nil registry", []selector.Option{selector.Registry(nil)}, "selector: registry is nil"},
		{"nil strategy", []selector.Option{selector.Registry(reg), selector.UseStrategy(nil)}, "strategy is nil"},
		{"backoff max below base", []selector.Option{selector.Registry(reg), selector.EjectBackoff(time.Minute, time.Second)}, "eject backoff 1m0s up to 1s"},
		{"zero cache ttl", []selector.Option{selector.Registry(reg), selector.CacheTTL(0)}, "cache ttl 0s"},
		{"zero watch backoff", []selector.Option{selector.Registry(reg), selector.WatchBackoff(0, time.Second)}, "watch backoff"},
		{"zero registry timeout", []selector.Option{selector.Registry(reg), selector.RegistryTimeout(0)}, "registry timeout"},
		{"nil clock", []selector.Option{selector.Registry(reg), selector.Clock(nil)}, "clock is nil"},
		{"nil classifier", []selector.Option{selector.Registry(reg), selector.EjectWhen(nil)}, "eject classifier is nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := selector.New(tc.opts...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want no error, have %v", err)
				}
				sel.Close()
				return
			}
			if err == nil {
				sel.Close()
				t.Fatalf("want an error containing %q, have nil", tc.wantErr)
			}
			if want, have := tc.wantErr, err.Error(); !strings.Contains(have, want) {
				t.Errorf("error: want it to contain %q, have %q", want, have)
			}
		})
	}
}

func TestRoundRobinBalancesAcrossCalls(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	sel := newSelector(t, reg, selector.UseStrategy(selector.RoundRobin()))

	counts := picks(t, sel, "greeter", 99)
	for _, id := range []string{"a", "b", "c"} {
		if want, have := 33, counts[id]; want != have {
			t.Errorf("selections of %s: want %d, have %d (%v)", id, want, have, counts)
		}
	}
}

func TestRoundRobinKeepsTurnsPerService(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"))
	register(t, reg, "echo", "v1", node("x"), node("y"))
	sel := newSelector(t, reg, selector.UseStrategy(selector.RoundRobin()))

	var have []string
	for range 2 {
		have = append(have, pick(t, sel, "greeter", nil), pick(t, sel, "echo", nil))
	}
	if want := "a x b y"; want != strings.Join(have, " ") {
		t.Errorf("turns: want %s, have %s", want, strings.Join(have, " "))
	}
}

func TestRandomSpreads(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	sel := newSelector(t, reg) // Random is the default

	counts := picks(t, sel, "greeter", 300)
	for _, id := range []string{"a", "b", "c"} {
		if counts[id] == 0 {
			t.Errorf("node %s never selected in 300 selections: %v", id, counts)
		}
	}
}

func TestLeastInFlightPrefersIdleNode(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	sel := newSelector(t, reg, selector.UseStrategy(selector.LeastInFlight()))
	ctx := testContext(t)

	// Two calls stay in flight.
	var busy []string
	for range 2 {
		next, err := sel.Select(ctx, "greeter")
		if err != nil {
			t.Fatal(err)
		}
		n, done, err := next()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { done(nil) })
		busy = append(busy, n.ID)
	}
	if busy[0] == busy[1] {
		t.Fatalf("the second call went to the busy node %s", busy[0])
	}
	idle := map[string]string{"a b": "c", "b a": "c", "a c": "b", "c a": "b", "b c": "a", "c b": "a"}[strings.Join(busy, " ")]

	counts := picks(t, sel, "greeter", 20)
	if want, have := 20, counts[idle]; want != have {
		t.Errorf("selections of the idle node %s: want %d, have %d (%v)", idle, want, have, counts)
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a", "zone=eu"), node("b", "zone=us"))
	register(t, reg, "greeter", "v2", node("c", "zone=eu", "canary=true"))
	sel := newSelector(t, reg)

	cases := []struct {
		name    string
		opts    []selector.SelectOption
		want    string
		wantErr []string // substrings of a no-match error
	}{
		{"none", nil, "a b c", nil},
		{"version", []selector.SelectOption{selector.WithVersion("v1")}, "a b", nil},
		{"other version", []selector.SelectOption{selector.WithVersion("v2")}, "c", nil},
		{"metadata", []selector.SelectOption{selector.WithMetadata("zone", "eu")}, "a c", nil},
		{"version and metadata", []selector.SelectOption{selector.WithVersion("v1"), selector.WithMetadata("zone", "us")}, "b", nil},
		{"two metadata", []selector.SelectOption{selector.WithMetadata("zone", "eu"), selector.WithMetadata("canary", "true")}, "c", nil},
		{"custom", []selector.SelectOption{selector.WithFilter(selector.FilterFunc("not a", func(c selector.Candidate) bool { return c.Node.ID != "a" }))}, "b c", nil},
		{"unknown version", []selector.SelectOption{selector.WithVersion("v3")},
			"", []string{`selector: no node matches the filters: service "greeter" has no node with version "v3"`, `3 nodes: version "v1" (2 nodes), version "v2" (1 node)`}},
		{"filters that exclude each other", []selector.SelectOption{selector.WithVersion("v2"), selector.WithMetadata("zone", "us")},
			"", []string{`has no node with version "v2" and metadata zone=us`, "a (zone=eu), b (zone=us), c (zone=eu)"}},
		{"unset metadata", []selector.SelectOption{selector.WithMetadata("rack", "r1")},
			"", []string{"metadata rack=r1", "a (rack=<unset>)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			have, err := sortedCandidates(t, sel, "greeter", tc.opts...)
			if tc.wantErr != nil {
				if !errors.Is(err, selector.ErrNoMatch) {
					t.Fatalf("want ErrNoMatch, have %v (nodes %q)", err, have)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error: want it to contain %q, have %q", want, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want; want != have {
				t.Errorf("nodes: want %q, have %q", want, have)
			}
		})
	}
}

func TestNodeVersion(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"))
	register(t, reg, "greeter", "v2", node("bb"))
	sel := newSelector(t, reg)

	if _, ok := sel.NodeVersion("greeter", node("a")); ok {
		t.Error("before any Select the cache holds no node")
	}
	next, err := sel.Select(testContext(t), "greeter")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "v1", "bb": "v2"}
	for range 2 {
		n, done, err := next()
		if err != nil {
			t.Fatal(err)
		}
		done(nil)
		if have, ok := sel.NodeVersion("greeter", n); !ok || have != want[n.ID] {
			t.Errorf("node %s: want version %q, have %q (ok %v)", n.ID, want[n.ID], have, ok)
		}
	}
	if _, ok := sel.NodeVersion("greeter", node("c")); ok {
		t.Error("a node the cache does not hold has no version")
	}
	if _, ok := sel.NodeVersion("other", node("a")); ok {
		t.Error("a service the cache does not hold has no versions")
	}
}

func TestUnknownService(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	sel := newSelector(t, reg)

	_, err := sel.Select(testContext(t), "nobody")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("want an error wrapping registry.ErrNotFound, have %v", err)
	}
	if want, have := `"nobody"`, err.Error(); !strings.Contains(have, want) {
		t.Errorf("error: want it to name the service %s, have %q", want, have)
	}

	// Once registered, the same name is found: a failed lookup is not cached.
	register(t, reg, "nobody", "v1", node("a"))
	if have, err := sortedCandidates(t, sel, "nobody"); err != nil || have != "a" {
		t.Errorf("after registering: want a, have %q, %v", have, err)
	}

	if _, err := sel.Select(testContext(t), ""); err == nil {
		t.Error("select with no service name: want an error, have nil")
	}
}

func TestNextNeverRepeatsANode(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	sel := newSelector(t, reg)

	next, err := sel.Select(testContext(t), "greeter")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		n, done, err := next()
		if err != nil {
			t.Fatal(err)
		}
		if seen[n.ID] {
			t.Fatalf("node %s offered twice", n.ID)
		}
		seen[n.ID] = true
		done(errUnavailable) // the call failed: retry on another node
	}
	_, _, err = next()
	if !errors.Is(err, selector.ErrExhausted) {
		t.Fatalf("after every node: want ErrExhausted, have %v", err)
	}
	if want, have := `selector: no node left to try: tried all 3 nodes of "greeter"`, err.Error(); want != have {
		t.Errorf("error: want %q, have %q", want, have)
	}
}

func TestWarmCacheMakesNoRegistryCalls(t *testing.T) {
	t.Parallel()
	mem := newMemory(t)
	register(t, mem, "greeter", "v1", node("a"), node("b"))
	reg := &countingRegistry{Registry: mem}
	sel := newSelector(t, reg)

	pick(t, sel, "greeter", nil)
	if want, have := int64(1), reg.getService.Load(); want != have {
		t.Errorf("GetService calls for a cold service: want %d, have %d", want, have)
	}
	if want, have := int64(1), reg.watch.Load(); want != have {
		t.Errorf("Watch calls for a cold service: want %d, have %d", want, have)
	}

	before := reg.calls()
	for range 1000 {
		pick(t, sel, "greeter", nil, selector.WithVersion("v1"))
	}
	if want, have := before, reg.calls(); want != have {
		t.Errorf("registry calls after 1000 warm selections: want %d, have %d", want, have)
	}
}

func TestNoWatch(t *testing.T) {
	t.Parallel()
	mem := newMemory(t)
	register(t, mem, "greeter", "v1", node("a"), node("b"))
	reg := &countingRegistry{Registry: mem}
	clock := newFakeClock()
	sel := newSelector(t, reg, selector.NoWatch(), selector.CacheTTL(time.Minute), selector.Clock(clock.Now))

	for range 10 {
		pick(t, sel, "greeter", nil)
	}
	if reg.watch.Load() != 0 || reg.getService.Load() != 1 {
		t.Errorf("want one GetService and no Watch, have %d and %d", reg.getService.Load(), reg.watch.Load())
	}
	deregister(t, mem, "greeter", "a")
	if have, _ := sortedCandidates(t, sel, "greeter"); have != "a b" {
		t.Errorf("within the cache ttl the nodes are those fetched: have %q", have)
	}
	clock.Advance(time.Minute)
	if have, _ := sortedCandidates(t, sel, "greeter"); have != "b" {
		t.Errorf("after the cache ttl the nodes are fetched again: have %q", have)
	}
	if reg.getService.Load() != 2 {
		t.Errorf("want a second GetService, have %d", reg.getService.Load())
	}
	if err := sel.Close(); err != nil {
		t.Fatal(err)
	}
}

// A refresh that finds no node at all (a registry restarted without its
// records) keeps the cached nodes; one that finds some replaces them.
func TestRefreshFindingNothingKeepsNodes(t *testing.T) {
	t.Parallel()
	mem := newMemory(t)
	register(t, mem, "greeter", "v1", node("a"), node("b"))
	clock := newFakeClock()
	sel := newSelector(t, mem, selector.NoWatch(), selector.CacheTTL(time.Minute), selector.Clock(clock.Now))
	if have, _ := sortedCandidates(t, sel, "greeter"); have != "a b" {
		t.Fatalf("warm up: have %q", have)
	}
	deregister(t, mem, "greeter", "a", "b")
	clock.Advance(time.Minute)
	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a b" {
		t.Errorf("with no node in the registry: want the cached a b, have %q, %v", have, err)
	}
	register(t, mem, "greeter", "v1", node("c"))
	clock.Advance(time.Minute)
	if have, _ := sortedCandidates(t, sel, "greeter"); have != "c" {
		t.Errorf("once the registry has nodes again: want c, have %q", have)
	}
}

func TestColdSelectsShareOneFetch(t *testing.T) {
	t.Parallel()
	mem := newMemory(t)
	register(t, mem, "greeter", "v1", node("a"), node("b"))
	reg := &countingRegistry{Registry: mem}
	sel := newSelector(t, reg)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := sel.Select(testContext(t), "greeter"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want, have := int64(1), reg.getService.Load(); want != have {
		t.Errorf("GetService calls for 20 concurrent cold selections: want %d, have %d", want, have)
	}
}

func TestWatchKeepsNodesFresh(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	// Without the grace for the last nodes (TestLastNodesGrace has it).
	sel := newSelector(t, reg, selector.LastNodesGrace(0))
	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a b c" {
		t.Fatalf("warm up: want a b c, have %q, %v", have, err)
	}

	expect := func(want string, opts ...selector.SelectOption) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, func() error {
			have, err := sortedCandidates(t, sel, "greeter", opts...)
			if err != nil {
				return err
			}
			if want != have {
				return fmt.Errorf("nodes: want %q, have %q", want, have)
			}
			return nil
		})
	}

	deregister(t, reg, "greeter", "b")
	expect("a c")

	register(t, reg, "greeter", "v1", node("d"))
	expect("a c d")

	// An update moves c to another version.
	register(t, reg, "greeter", "v2", node("c"))
	expect("c", selector.WithVersion("v2"))
	expect("a d", selector.WithVersion("v1"))

	// With every node gone the service is unknown again.
	deregister(t, reg, "greeter", "a", "c", "d")
	testutil.Eventually(t, 5*time.Second, func() error {
		_, err := sel.Select(testContext(t), "greeter")
		if !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("want registry.ErrNotFound, have %v", err)
		}
		return nil
	})
}

// TestLastNodesGrace: when the watch removes every node of a service, the
// last ones are still served for the grace, unless the watch brings nodes
// again first; after it the service has no nodes.
func TestLastNodesGrace(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"))
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sel := newSelector(t, reg, selector.Clock(clock), selector.LastNodesGrace(10*time.Second))
	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a b" {
		t.Fatalf("warm up: want a b, have %q, %v", have, err)
	}

	// Both nodes go; the watch's removal is seen once a and b are ejected
	// from what NodeVersion knows.
	deregister(t, reg, "greeter", "a", "b")
	testutil.Eventually(t, 5*time.Second, func() error {
		if _, ok := sel.NodeVersion("greeter", node("a")); ok {
			return errors.New("the watch has not removed a yet")
		}
		return nil
	})
	advance(9 * time.Second)
	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a b" {
		t.Errorf("within the grace: want the last nodes a b, have %q, %v", have, err)
	}
	advance(2 * time.Second)
	if _, err := sel.Select(testContext(t), "greeter"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("after the grace: want registry.ErrNotFound, have %v", err)
	}

	// Nodes registered during a grace replace the last ones at once.
	register(t, reg, "greeter", "v1", node("c"))
	testutil.Eventually(t, 5*time.Second, func() error {
		have, err := sortedCandidates(t, sel, "greeter")
		if err != nil || have != "c" {
			return fmt.Errorf("want c, have %q, %v", have, err)
		}
		return nil
	})
	deregister(t, reg, "greeter", "c")
	register(t, reg, "greeter", "v1", node("d"))
	testutil.Eventually(t, 5*time.Second, func() error {
		have, err := sortedCandidates(t, sel, "greeter")
		if err != nil || have != "d" {
			return fmt.Errorf("after c went and d came within the grace: want d alone, have %q, %v", have, err)
		}
		return nil
	})
}

func TestEjection(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	clock := newFakeClock()
	sel := newSelector(t, reg,
		selector.UseStrategy(selector.RoundRobin()),
		selector.EjectBackoff(5*time.Second, 12*time.Second),
		selector.Clock(clock.Now))
	a := &registry.Node{ID: "a"}
	pick(t, sel, "greeter", nil) // warm up

	ejected := func(want bool) {
		t.Helper()
		counts := picks(t, sel, "greeter", 30)
		if have := counts["a"] == 0; want != have {
			t.Fatalf("a ejected: want %v, have %v (first picks %v)", want, have, counts)
		}
	}

	steps := []struct {
		name    string
		report  bool  // call Mark with err
		err     error // nil: a success
		advance time.Duration
		ejected bool
	}{
		{"a connection failure ejects", true, errUnavailable, 0, true},
		{"still ejected before the back-off ends", false, nil, 5*time.Second - time.Nanosecond, true},
		{"back after the back-off", false, nil, time.Nanosecond, false},
		{"a second failure in a row", true, errUnavailable, 0, true},
		{"doubles the back-off", false, nil, 10*time.Second - time.Nanosecond, true},
		{"and then ends", false, nil, time.Nanosecond, false},
		{"a third failure", true, errUnavailable, 0, true},
		{"is capped at the maximum", false, nil, 12 * time.Second, false},
		{"a success", true, nil, 0, false},
		{"resets the failures", true, errUnavailable, 5 * time.Second, false},
		{"errors from the node itself", true, status.Error(codes.NotFound, "no such user"), 0, false},
		{"and deadlines do not eject", true, context.DeadlineExceeded, 0, false},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.report {
				sel.Mark("greeter", a, step.err)
			}
			clock.Advance(step.advance)
			ejected(step.ejected)
		})
	}
}

func TestEjectedNodesComeLast(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	sel := newSelector(t, reg)

	pick(t, sel, "greeter", nil) // warm up
	sel.Mark("greeter", &registry.Node{ID: "b"}, errUnavailable)
	for range 10 {
		ids, err := candidates(t, sel, "greeter")
		if err != nil {
			t.Fatal(err)
		}
		if want, have := "b", ids[len(ids)-1]; want != have || len(ids) != 3 {
			t.Fatalf("candidates: want the ejected %s last of 3, have %v", want, ids)
		}
	}
}

func TestAllEjectedStillSelects(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	sel := newSelector(t, reg)
	pick(t, sel, "greeter", nil) // warm up

	for _, id := range []string{"a", "b", "c"} {
		sel.Mark("greeter", &registry.Node{ID: id}, errUnavailable)
	}
	have, err := sortedCandidates(t, sel, "greeter")
	if err != nil {
		t.Fatalf("with every node ejected: want them tried anyway, have %v", err)
	}
	if want := "a b c"; want != have {
		t.Errorf("candidates: want %q, have %q", want, have)
	}
}

func TestDoneCountsInFlightAndEjects(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"))
	var seen []int
	var mu sync.Mutex
	spy := selector.StrategyFunc(func(_ string, candidates []selector.Candidate) int {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, c := range candidates {
			total += c.InFlight
		}
		seen = append(seen, total)
		return 0
	})
	sel := newSelector(t, reg, selector.UseStrategy(spy))
	ctx := testContext(t)

	next, err := sel.Select(ctx, "greeter")
	if err != nil {
		t.Fatal(err)
	}
	first, done, err := next()
	if err != nil {
		t.Fatal(err)
	}
	if want, have := "a", first.ID; want != have {
		t.Fatalf("first node: want %s, have %s", want, have)
	}
	pick(t, sel, "greeter", nil) // sees a in flight; picks b

	done(errUnavailable)
	done(nil)                    // a second Done does nothing
	pick(t, sel, "greeter", nil) // a is no longer in flight, and ejected

	mu.Lock()
	have := fmt.Sprint(seen)
	mu.Unlock()
	if want := "[0 1 0]"; want != have {
		t.Errorf("in-flight calls seen by the strategy: want %s, have %s", want, have)
	}
	if have := picks(t, sel, "greeter", 10); have["a"] != 0 {
		t.Errorf("a failed through Done: want it ejected, have first picks %v", have)
	}
}

func TestRegistryDownWhileWarm(t *testing.T) {
	t.Parallel()
	mem := newMemory(t)
	register(t, mem, "greeter", "v1", node("a"), node("b"), node("c"))
	reg := &flakyRegistry{Registry: mem}
	sel := newSelector(t, reg, selector.CacheTTL(10*time.Millisecond))
	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a b c" {
		t.Fatalf("warm up: want a b c, have %q, %v", have, err)
	}

	reg.setDown(true)
	// Changes the selector cannot hear about while the registry is down.
	deregister(t, mem, "greeter", "a")
	register(t, mem, "greeter", "v1", node("d"))

	before := reg.getService.Load()
	for range 50 {
		have, err := sortedCandidates(t, sel, "greeter")
		if err != nil {
			t.Fatalf("registry down: want the cached nodes, have %v", err)
		}
		if want := "a b c"; want != have {
			t.Fatalf("registry down: want the cached %q, have %q", want, have)
		}
	}
	// The cache tries to refresh itself in the background meanwhile.
	testutil.Eventually(t, 5*time.Second, func() error {
		if reg.getService.Load() == before {
			return errors.New("no refresh attempted while the watch is down")
		}
		return nil
	})
	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a b c" {
		t.Fatalf("after failed refreshes: want the cached a b c, have %q, %v", have, err)
	}

	reg.setDown(false)
	testutil.Eventually(t, 5*time.Second, func() error {
		have, err := sortedCandidates(t, sel, "greeter")
		if err != nil {
			return err
		}
		if want := "b c d"; want != have {
			return fmt.Errorf("after the registry is back: want %q, have %q", want, have)
		}
		return nil
	})
	// And the restarted watch delivers events again.
	register(t, mem, "greeter", "v1", node("e"))
	testutil.Eventually(t, 5*time.Second, func() error {
		if have, _ := sortedCandidates(t, sel, "greeter"); have != "b c d e" {
			return fmt.Errorf("want b c d e, have %q", have)
		}
		return nil
	})
}

func TestBrokenWatchFallsBackToRefetch(t *testing.T) {
	t.Parallel()
	mem := newMemory(t)
	register(t, mem, "greeter", "v1", node("a"))
	reg := &flakyRegistry{Registry: mem, brokenWatch: true}
	sel := newSelector(t, reg, selector.CacheTTL(20*time.Millisecond))

	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a" {
		t.Fatalf("a cold service with a broken watch: want a, have %q, %v", have, err)
	}
	register(t, mem, "greeter", "v1", node("b"))
	testutil.Eventually(t, 5*time.Second, func() error {
		if have, _ := sortedCandidates(t, sel, "greeter"); have != "a b" {
			return fmt.Errorf("want a b after the cache expired, have %q", have)
		}
		return nil
	})
}

func TestColdSelectWithRegistryDown(t *testing.T) {
	t.Parallel()
	reg := &flakyRegistry{Registry: newMemory(t)}
	reg.setDown(true)
	sel := newSelector(t, reg)

	_, err := sel.Select(testContext(t), "greeter")
	if !errors.Is(err, registry.ErrUnreachable) {
		t.Fatalf("want an error wrapping registry.ErrUnreachable, have %v", err)
	}
	if want, have := `selector: get service "greeter" from memory registry`, err.Error(); !strings.Contains(have, want) {
		t.Errorf("error: want it to contain %q, have %q", want, have)
	}
}

func TestCloseStopsWatches(t *testing.T) {
	// Not parallel: it counts the watch goroutines of the whole process.
	mem := newMemory(t)
	register(t, mem, "greeter", "v1", node("a"))
	register(t, mem, "echo", "v1", node("b"))
	reg := &countingRegistry{Registry: mem}
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	pick(t, sel, "greeter", nil)
	pick(t, sel, "echo", nil)
	if want, have := 2, watchGoroutines(); want != have {
		t.Errorf("watch goroutines: want %d, have %d", want, have)
	}
	if want, have := int64(2), reg.openWatches.Load(); want != have {
		t.Errorf("open watches: want %d, have %d", want, have)
	}

	if err := sel.Close(); err != nil {
		t.Fatal(err)
	}
	// Close has waited for them; they may still be on their way out.
	testutil.Eventually(t, 5*time.Second, func() error {
		if want, have := 0, watchGoroutines(); want != have {
			return fmt.Errorf("watch goroutines after Close: want %d, have %d", want, have)
		}
		return nil
	})
	if want, have := int64(0), reg.openWatches.Load(); want != have {
		t.Errorf("open watches after Close: want %d, have %d", want, have)
	}
	if _, err := sel.Select(testContext(t), "greeter"); !errors.Is(err, selector.ErrClosed) {
		t.Errorf("select after Close: want ErrClosed, have %v", err)
	}
	if err := sel.Close(); err != nil {
		t.Errorf("second Close: want nil, have %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"), node("b"), node("c"))
	sel := newSelector(t, reg, selector.UseStrategy(selector.LeastInFlight()))
	ctx := testContext(t)

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				next, err := sel.Select(ctx, "greeter")
				if err != nil {
					t.Error(err)
					return
				}
				n, done, err := next()
				if err != nil {
					t.Error(err)
					return
				}
				if (w+i)%17 == 0 {
					done(errUnavailable)
				} else {
					done(nil)
				}
				sel.Mark("greeter", n, nil)
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			id := fmt.Sprintf("x%d", i%5)
			register(t, reg, "greeter", "v1", node(id))
			deregister(t, reg, "greeter", id)
		}
	})
	wg.Wait()
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"))
	sel := newSelector(t, reg)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sel.Select(ctx, "greeter"); !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled, have %v", err)
	}
	// A later Select with a live context loads the service.
	if have, err := sortedCandidates(t, sel, "greeter"); err != nil || have != "a" {
		t.Errorf("want a, have %q, %v", have, err)
	}
}

func TestBadStrategy(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"))
	sel := newSelector(t, reg, selector.UseStrategy(selector.StrategyFunc(func(string, []selector.Candidate) int { return 7 })))

	next, err := sel.Select(testContext(t), "greeter")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := next(); err == nil || !strings.Contains(err.Error(), "picked candidate 7 of 1") {
		t.Errorf("want an error naming the bad pick, have %v", err)
	}
}

func TestIsConnectionError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unavailable", errUnavailable, true},
		{"wrapped unavailable", fmt.Errorf("call greeter: %w", errUnavailable), true},
		{"not found", status.Error(codes.NotFound, "no"), false},
		{"deadline status", status.Error(codes.DeadlineExceeded, "slow"), false},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"other", io.ErrUnexpectedEOF, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if want, have := tc.want, selector.IsConnectionError(tc.err); want != have {
				t.Errorf("IsConnectionError(%v): want %v, have %v", tc.err, want, have)
			}
		})
	}
}

func BenchmarkSelectWarm(b *testing.B) {
	reg := newMemoryB(b)
	svc := &registry.Service{Name: "greeter", Version: "v1", Nodes: []*registry.Node{node("a"), node("b"), node("c")}}
	if err := reg.Register(context.Background(), svc, registry.NoExpiry()); err != nil {
		b.Fatal(err)
	}
	for _, strategy := range []struct {
		name string
		s    selector.Strategy
	}{{"Random", selector.Random()}, {"RoundRobin", selector.RoundRobin()}, {"LeastInFlight", selector.LeastInFlight()}} {
		b.Run(strategy.name, func(b *testing.B) {
			sel, err := selector.New(selector.Registry(reg), selector.UseStrategy(strategy.s))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { sel.Close() })
			ctx := context.Background()
			if _, err := sel.Select(ctx, "greeter"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					next, err := sel.Select(ctx, "greeter")
					if err != nil {
						b.Error(err)
						return
					}
					_, done, err := next()
					if err != nil {
						b.Error(err)
						return
					}
					done(nil)
				}
			})
		})
	}
}

func TestLogsEjection(t *testing.T) {
	t.Parallel()
	reg := newMemory(t)
	register(t, reg, "greeter", "v1", node("a"))
	var logs testutil.SyncBuffer
	sel := newSelector(t, reg, selector.Logger(slog.New(slog.NewTextHandler(&logs, nil))))

	pick(t, sel, "greeter", errUnavailable)
	for _, want := range []string{"level=WARN", "node ejected", "service=greeter", "node=a", "address=127.0.0.1:9001", "for=5s", "failures=1", "code = Unavailable"} {
		if have := logs.String(); !strings.Contains(have, want) {
			t.Errorf("log: want it to contain %q, have %q", want, have)
		}
	}
}
