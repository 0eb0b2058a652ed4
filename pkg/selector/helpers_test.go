package selector_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/selector"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newMemory(t *testing.T) *memory.Registry {
	t.Helper()
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	return reg
}

func newSelector(t *testing.T, reg registry.Registry, opts ...selector.Option) *selector.Cache {
	t.Helper()
	sel, err := selector.New(append([]selector.Option{selector.Registry(reg), selector.WatchBackoff(5*time.Millisecond, 50*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	return sel
}

// node is a node whose metadata is given as "key=value" pairs.
func node(id string, metadata ...string) *registry.Node {
	n := &registry.Node{ID: id, Address: "127.0.0.1:" + fmt.Sprint(9000+len(id)), Metadata: map[string]string{}}
	for _, kv := range metadata {
		k, v, _ := strings.Cut(kv, "=")
		n.Metadata[k] = v
	}
	return n
}

func register(t *testing.T, reg registry.Registry, service, version string, nodes ...*registry.Node) {
	t.Helper()
	svc := &registry.Service{Name: service, Version: version, Nodes: nodes}
	if err := reg.Register(testContext(t), svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
}

func deregister(t *testing.T, reg registry.Registry, service string, ids ...string) {
	t.Helper()
	svc := &registry.Service{Name: service}
	for _, id := range ids {
		svc.Nodes = append(svc.Nodes, &registry.Node{ID: id})
	}
	if err := reg.Deregister(testContext(t), svc); err != nil {
		t.Fatal(err)
	}
}

// errNeutral is a call outcome that neither ejects a node nor clears its
// failures: the error of a call the node answered.
var errNeutral = errors.New("the node answered with an error")

// candidates selects once and drains the Next, returning the node IDs in
// the order they were offered. Every call is reported with errNeutral.
func candidates(t *testing.T, sel selector.Selector, service string, opts ...selector.SelectOption) ([]string, error) {
	t.Helper()
	next, err := sel.Select(testContext(t), service, opts...)
	if err != nil {
		return nil, err
	}
	var ids []string
	for {
		n, done, err := next()
		if errors.Is(err, selector.ErrExhausted) {
			return ids, nil
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		done(errNeutral)
		ids = append(ids, n.ID)
	}
}

// sortedCandidates is candidates in ID order, joined with spaces.
func sortedCandidates(t *testing.T, sel selector.Selector, service string, opts ...selector.SelectOption) (string, error) {
	t.Helper()
	ids, err := candidates(t, sel, service, opts...)
	slices.Sort(ids)
	return strings.Join(ids, " "), err
}

// pick selects once and returns the first node offered, reporting callErr
// for it.
func pick(t *testing.T, sel selector.Selector, service string, callErr error, opts ...selector.SelectOption) string {
	t.Helper()
	next, err := sel.Select(testContext(t), service, opts...)
	if err != nil {
		t.Fatalf("select %s: %v", service, err)
	}
	n, done, err := next()
	if err != nil {
		t.Fatalf("next %s: %v", service, err)
	}
	done(callErr)
	return n.ID
}

// picks counts the first node offered over n selections, reporting each
// call with errNeutral.
func picks(t *testing.T, sel selector.Selector, service string, n int, opts ...selector.SelectOption) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		counts[pick(t, sel, service, errNeutral, opts...)]++
	}
	return counts
}

// watchGoroutines counts the goroutines running a Cache's watch loop.
func watchGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "selector.(*Cache).watch(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingRegistry counts the calls made to the registry it wraps and the
// watches still open.
type countingRegistry struct {
	registry.Registry
	getService, listServices, watch atomic.Int64
	openWatches                     atomic.Int64
}

var _ registry.Registry = (*countingRegistry)(nil)

func (r *countingRegistry) calls() int64 {
	return r.getService.Load() + r.listServices.Load() + r.watch.Load()
}

func (r *countingRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	r.getService.Add(1)
	return r.Registry.GetService(ctx, name, opts...)
}

func (r *countingRegistry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	r.listServices.Add(1)
	return r.Registry.ListServices(ctx)
}

func (r *countingRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	r.watch.Add(1)
	w, err := r.Registry.Watch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	r.openWatches.Add(1)
	return &countingWatcher{Watcher: w, open: &r.openWatches}, nil
}

type countingWatcher struct {
	registry.Watcher
	open    *atomic.Int64
	stopped sync.Once
}

func (w *countingWatcher) Stop() {
	w.stopped.Do(func() { w.open.Add(-1) })
	w.Watcher.Stop()
}

// flakyRegistry wraps a registry that can be made unreachable: while down,
// every call fails with registry.ErrUnreachable and open watches break.
// With brokenWatch set, Watch always fails but GetService works.
type flakyRegistry struct {
	registry.Registry
	brokenWatch bool
	getService  atomic.Int64

	mu       sync.Mutex
	down     bool
	watchers []registry.Watcher
}

var _ registry.Registry = (*flakyRegistry)(nil)

func (r *flakyRegistry) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
	if down {
		for _, w := range r.watchers {
			w.Stop()
		}
		r.watchers = nil
	}
}

func (r *flakyRegistry) isDown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down
}

func (r *flakyRegistry) unreachable() error {
	return fmt.Errorf("%w: flaky registry: connection refused", registry.ErrUnreachable)
}

func (r *flakyRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	r.getService.Add(1)
	if r.isDown() {
		return nil, r.unreachable()
	}
	return r.Registry.GetService(ctx, name, opts...)
}

func (r *flakyRegistry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	if r.isDown() {
		return nil, r.unreachable()
	}
	return r.Registry.ListServices(ctx)
}

func (r *flakyRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down || r.brokenWatch {
		return nil, r.unreachable()
	}
	w, err := r.Registry.Watch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	r.watchers = append(r.watchers, w)
	return &flakyWatcher{Watcher: w, registry: r}, nil
}

type flakyWatcher struct {
	registry.Watcher
	registry *flakyRegistry
}

// Next fails once the registry is down, even with events still buffered:
// nothing gets through a lost connection.
func (w *flakyWatcher) Next() (*registry.Event, error) {
	event, err := w.Watcher.Next()
	if w.registry.isDown() {
		return nil, w.registry.unreachable()
	}
	return event, err
}

func newMemoryB(b *testing.B) *memory.Registry {
	b.Helper()
	reg := memory.New()
	b.Cleanup(func() { reg.Close() })
	return reg
}
