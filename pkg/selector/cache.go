package selector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microtools/micro/pkg/registry"
)

var _ Selector = (*Cache)(nil)

// stableWatch is how long a watch has to last before its restart back-off
// starts again from the beginning.
const stableWatch = 5 * time.Second

// Cache is a Selector that keeps the nodes of each service it is asked for,
// fed by a registry watch. Build it with New and stop it with Close.
type Cache struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context // ends at Close; parent of every watch
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per watch goroutine

	mu      sync.RWMutex
	entries map[string]*entry
	closed  bool
}

// New returns a Cache that finds nodes in the registry given with Registry.
// It starts nothing until the first Select.
func New(opts ...Option) (*Cache, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("selector: %w", err)
		}
	}
	if o.Registry == nil {
		return nil, errors.New("selector: no registry: pass selector.Registry(r)")
	}
	if o.Strategy == nil {
		o.Strategy = Random()
	}
	if o.EjectWhen == nil {
		o.EjectWhen = IsConnectionError
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{
		opts:    o,
		log:     logger,
		ctx:     ctx,
		cancel:  cancel,
		entries: map[string]*entry{},
	}, nil
}

// Select implements Selector. The first Select of a service fetches its
// nodes from the registry within ctx; later ones are served from the cache.
func (c *Cache) Select(ctx context.Context, service string, opts ...SelectOption) (Next, error) {
	if service == "" {
		return nil, errors.New("selector: no service name given")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("selector: select %q: %w", service, err)
	}
	var so SelectOptions
	for _, opt := range opts {
		opt(&so)
	}
	e, err := c.entry(ctx, service)
	if err != nil {
		return nil, err
	}
	if c.opts.NoWatch {
		c.refreshIfStale(e)
	}
	nodes := *e.nodes.Load()
	if len(nodes) == 0 {
		nodes = e.lastNodes(c.opts.Now(), c.opts.LastNodesGrace)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("selector: %w: %q has no nodes left in %s", registry.ErrNotFound, service, c.opts.Registry)
	}
	if len(so.Filters) > 0 {
		all := nodes
		if nodes = filterNodes(all, so.Filters); len(nodes) == 0 {
			return nil, noMatchError(service, so.Filters, all)
		}
	}
	return newSelection(c, service, nodes).next, nil
}

// Mark implements Selector. A node the cache does not know is ignored.
func (c *Cache) Mark(service string, node *registry.Node, err error) {
	if node == nil {
		return
	}
	c.mu.RLock()
	e := c.entries[service]
	c.mu.RUnlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	state := e.states[nodeKey(node)]
	e.mu.Unlock()
	if state != nil {
		c.feedback(service, node, state, err)
	}
}

// NodeVersion returns the version of the service record that node belongs
// to, for a node that a Next of this cache returned: a caller that keeps
// something per version (descriptors, say) learns it without asking the
// registry. ok is false when the cache holds no such node (any more).
func (c *Cache) NodeVersion(service string, node *registry.Node) (version string, ok bool) {
	if node == nil {
		return "", false
	}
	c.mu.RLock()
	e := c.entries[service]
	c.mu.RUnlock()
	if e == nil {
		return "", false
	}
	nodes := *e.nodes.Load()
	i, found := slices.BinarySearchFunc(nodes, nodeKey(node), compareKey)
	if !found {
		return "", false
	}
	return nodes[i].version, true
}

// Close implements Selector: it stops every watch and waits for their
// goroutines. It is safe to call more than once.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.entries = map[string]*entry{}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

// feedback applies the outcome of a call to a node's failure record.
func (c *Cache) feedback(service string, node *registry.Node, state *nodeState, err error) {
	if err == nil {
		if state.failures.Load() != 0 || state.ejectedUntil.Load() != 0 {
			state.failures.Store(0)
			state.ejectedUntil.Store(0)
			c.log.Info("selector: node recovered", "service", service, "node", node.ID, "address", node.Address)
		}
		return
	}
	if !c.opts.EjectWhen(err) {
		return
	}
	failures := state.failures.Add(1)
	period := ejectFor(c.opts.EjectBackoff, c.opts.MaxEjectBackoff, failures)
	state.ejectedUntil.Store(c.opts.Now().Add(period).UnixNano())
	c.log.Warn("selector: node ejected after a connection failure",
		"service", service, "node", node.ID, "address", node.Address,
		"for", period, "failures", failures, "error", err)
}

// entry returns the cache entry of service, loading it on first use. When
// several Selects ask for a cold service at once, one loads it and the others
// wait.
func (c *Cache) entry(ctx context.Context, service string) (*entry, error) {
	for {
		c.mu.RLock()
		e, closed := c.entries[service], c.closed
		c.mu.RUnlock()
		if closed {
			return nil, fmt.Errorf("selector: select %q: %w", service, ErrClosed)
		}
		if e == nil {
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				continue
			}
			if e = c.entries[service]; e == nil {
				e = newEntry(c.ctx, service)
				c.entries[service] = e
				if c.opts.NoWatch {
					close(e.watchTried)
				} else {
					c.wg.Add(1)
					go c.watch(e)
				}
				c.mu.Unlock()
				if err := c.load(ctx, e); err != nil {
					return nil, err
				}
				return e, nil
			}
			c.mu.Unlock()
		}

		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("selector: select %q: %w", service, ctx.Err())
		}
		if e.loadErr == nil {
			return e, nil
		}
		// The Select that was loading gave up on its own context; this
		// one may still have time to load it.
		if errors.Is(e.loadErr, context.Canceled) || errors.Is(e.loadErr, context.DeadlineExceeded) {
			continue
		}
		return nil, e.loadErr
	}
}

// load fetches the nodes of a new entry once its watch has been started, so
// that no change between the fetch and the watch is missed. On failure the
// entry is dropped and its watch stopped.
func (c *Cache) load(ctx context.Context, e *entry) (err error) {
	defer func() {
		if err != nil {
			c.mu.Lock()
			if c.entries[e.name] == e {
				delete(c.entries, e.name)
			}
			c.mu.Unlock()
			e.cancel()
			e.loadErr = err
		}
		close(e.ready)
	}()

	select {
	case <-e.watchTried:
	case <-ctx.Done():
		return fmt.Errorf("selector: select %q: %w", e.name, ctx.Err())
	case <-e.ctx.Done():
		return fmt.Errorf("selector: select %q: %w", e.name, ErrClosed)
	}
	services, err := c.opts.Registry.GetService(ctx, e.name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return fmt.Errorf("selector: %w", err)
	case err != nil:
		return fmt.Errorf("selector: get service %q from %s: %w", e.name, c.opts.Registry, err)
	}
	if n := e.replace(services, c.opts.Now()); n == 0 {
		return fmt.Errorf("selector: %w: %q has no usable nodes in %s", registry.ErrNotFound, e.name, c.opts.Registry)
	}
	return nil
}

// watch keeps one entry fresh until the entry is dropped or the cache
// closed. While the registry cannot be watched it serves the cached nodes,
// refetches them every CacheTTL and retries the watch with back-off; a
// restarted watch first refetches everything, since events were missed.
func (c *Cache) watch(e *entry) {
	defer c.wg.Done()
	var tried sync.Once
	markTried := func() { close(e.watchTried) }
	defer tried.Do(markTried)

	reg := c.opts.Registry
	delay := newBackoff(c.opts.WatchBackoff, c.opts.MaxWatchBackoff)
	resync := false // the first load follows the first watch
	for attempt := 1; ; attempt++ {
		w, err := reg.Watch(e.ctx, registry.WatchService(e.name))
		tried.Do(markTried)
		select {
		case <-e.ready:
		case <-e.ctx.Done():
		}
		if e.ctx.Err() != nil || e.loadErr != nil {
			if err == nil {
				w.Stop()
			}
			return
		}

		fetched := false
		if err == nil && resync {
			if err = c.refresh(e); err != nil {
				w.Stop()
			}
			fetched = true
		}
		resync = true
		if err != nil {
			c.log.Warn("selector: cannot watch the registry; serving cached nodes",
				"service", e.name, "registry", reg.String(), "nodes", len(*e.nodes.Load()), "attempt", attempt, "error", err)
			if !fetched {
				c.refreshIfStale(e)
			}
			if !sleep(e.ctx, delay.wait()) {
				return
			}
			continue
		}

		if attempt > 1 {
			c.log.Info("selector: watching the registry again", "service", e.name, "registry", reg.String())
		}
		started := time.Now()
		err = c.consume(e, w)
		if e.ctx.Err() != nil {
			return
		}
		if time.Since(started) >= stableWatch {
			delay.reset()
		}
		c.log.Warn("selector: registry watch ended; restarting it",
			"service", e.name, "registry", reg.String(), "error", err)
		if !sleep(e.ctx, delay.wait()) {
			return
		}
	}
}

// consume applies the events of w to e until the watch fails or e ends.
func (c *Cache) consume(e *entry, w registry.Watcher) error {
	stop := context.AfterFunc(e.ctx, w.Stop)
	defer stop()
	defer w.Stop()
	for {
		event, err := w.Next()
		if err != nil {
			return err
		}
		e.apply(event, c.opts.Now())
	}
}

// refreshIfStale refetches the nodes of e when they are older than CacheTTL.
// On failure the cached nodes stay.
func (c *Cache) refreshIfStale(e *entry) {
	e.mu.Lock()
	stale := c.opts.Now().Sub(e.fetchedAt) >= c.opts.CacheTTL
	e.mu.Unlock()
	if !stale {
		return
	}
	if err := c.refresh(e); err != nil {
		c.log.Warn("selector: cannot refresh nodes; serving cached ones",
			"service", e.name, "nodes", len(*e.nodes.Load()), "error", err)
	}
}

// refresh replaces the nodes of e with what the registry has now. A
// registry that has no node of the service at all, when the cache has some,
// is not believed: right after a registry restart the records may not be
// back yet while the nodes run on. The cached nodes stay until the next
// refresh finds some, or a watch event removes them; those that are really
// gone fail to connect and are ejected.
func (c *Cache) refresh(e *entry) error {
	ctx, cancel := context.WithTimeout(e.ctx, c.opts.RegistryTimeout)
	defer cancel()
	services, err := c.opts.Registry.GetService(ctx, e.name)
	if errors.Is(err, registry.ErrNotFound) {
		services, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("selector: refresh %q from %s: %w", e.name, c.opts.Registry, err)
	}
	if cached := len(*e.nodes.Load()); cached > 0 && !anyUsable(services) {
		c.log.Warn("selector: the registry has no node of the service; keeping the cached ones",
			"service", e.name, "registry", c.opts.Registry.String(), "nodes", cached)
		return nil
	}
	e.replace(services, c.opts.Now())
	return nil
}

// anyUsable reports whether services have a node that can take calls.
func anyUsable(services []*registry.Service) bool {
	for _, svc := range services {
		if svc != nil && slices.ContainsFunc(svc.Nodes, usable) {
			return true
		}
	}
	return false
}

// entry holds the nodes of one service and the watch that keeps them.
type entry struct {
	name   string
	ctx    context.Context // ends when the entry is dropped or the cache closed
	cancel context.CancelFunc

	watchTried chan struct{} // closed once the first Watch call has returned
	ready      chan struct{} // closed once the first load has ended
	loadErr    error         // why the first load failed; read after ready

	// nodes are sorted by key and never changed in place; writers hold mu.
	nodes atomic.Pointer[[]*cachedNode]

	mu        sync.Mutex
	states    map[string]*nodeState // by node key; kept across updates
	fetchedAt time.Time             // of the last full fetch
	// removed are the nodes watch events removed since the last one that
	// added a node: when none is left, Select serves those removed less
	// than Options.LastNodesGrace ago.
	removed []removedNode
}

// removedNode is a node a watch event removed, and when.
type removedNode struct {
	node *cachedNode
	at   time.Time
}

// lastNodes are the nodes watch events removed less than grace before now,
// sorted by key; nil when there are none.
func (e *entry) lastNodes(now time.Time, grace time.Duration) []*cachedNode {
	e.mu.Lock()
	defer e.mu.Unlock()
	var last []*cachedNode
	for _, r := range e.removed {
		if now.Sub(r.at) < grace {
			last = append(last, r.node)
		}
	}
	slices.SortFunc(last, func(a, b *cachedNode) int { return cmp.Compare(a.key, b.key) })
	return last
}

func newEntry(parent context.Context, name string) *entry {
	ctx, cancel := context.WithCancel(parent)
	e := &entry{
		name:       name,
		ctx:        ctx,
		cancel:     cancel,
		watchTried: make(chan struct{}),
		ready:      make(chan struct{}),
		states:     map[string]*nodeState{},
	}
	e.nodes.Store(new([]*cachedNode))
	return e
}

// cachedNode is a node with what the selector knows about it.
type cachedNode struct {
	key     string
	node    *registry.Node
	version string
	state   *nodeState
}

func (n *cachedNode) candidate() Candidate {
	return Candidate{Node: n.node, Version: n.version, InFlight: int(n.state.inFlight.Load())}
}

// nodeState is the selector's record of one node: calls in flight and
// connection failures.
type nodeState struct {
	inFlight     atomic.Int64
	failures     atomic.Int32 // in a row
	ejectedUntil atomic.Int64 // Unix nanoseconds; 0 when not ejected
}

// nodeKey identifies a node within its service.
func nodeKey(n *registry.Node) string {
	if n.ID != "" {
		return n.ID
	}
	return n.Address
}

func compareKey(n *cachedNode, key string) int { return cmp.Compare(n.key, key) }

// usable reports whether a node from the registry can take calls.
func usable(n *registry.Node) bool {
	return n != nil && n.Address != "" && n.Health != registry.HealthCritical
}

// replace sets the nodes of e to those of services and returns how many
// there are. Nodes that stay keep their state.
func (e *entry) replace(services []*registry.Service, now time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var nodes []*cachedNode
	for _, svc := range services {
		if svc == nil {
			continue
		}
		for _, node := range svc.Nodes {
			if !usable(node) {
				continue
			}
			key := nodeKey(node)
			nodes = append(nodes, &cachedNode{key: key, node: registry.CloneNode(node), version: svc.Version, state: e.stateLocked(key)})
		}
	}
	slices.SortStableFunc(nodes, func(a, b *cachedNode) int { return cmp.Compare(a.key, b.key) })
	// A node listed twice keeps its last record.
	deduped := nodes[:0]
	for i, n := range nodes {
		if i+1 == len(nodes) || nodes[i+1].key != n.key {
			deduped = append(deduped, n)
		}
	}
	nodes = deduped
	for key := range e.states {
		if _, found := slices.BinarySearchFunc(nodes, key, compareKey); !found {
			delete(e.states, key)
		}
	}
	e.nodes.Store(&nodes)
	e.fetchedAt = now
	if len(nodes) > 0 {
		e.removed = nil
	}
	return len(nodes)
}

// apply changes the nodes of e by one watch event, at now. The nodes it
// removes are kept in e.removed (see lastNodes) until an event adds one.
func (e *entry) apply(event *registry.Event, now time.Time) {
	if event == nil || event.Service == nil || event.Service.Name != e.name {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	nodes := slices.Clone(*e.nodes.Load())
	for _, node := range event.Service.Nodes {
		if node == nil {
			continue
		}
		key := nodeKey(node)
		i, found := slices.BinarySearchFunc(nodes, key, compareKey)
		switch {
		case event.Type == registry.EventDelete || (event.Type == registry.EventUpdate || event.Type == registry.EventCreate) && !usable(node):
			if found {
				e.removed = append(e.removed, removedNode{node: nodes[i], at: now})
				nodes = slices.Delete(nodes, i, i+1)
				delete(e.states, key)
			}
		case event.Type == registry.EventCreate || event.Type == registry.EventUpdate:
			n := &cachedNode{key: key, node: registry.CloneNode(node), version: event.Service.Version, state: e.stateLocked(key)}
			if found {
				nodes[i] = n
			} else {
				nodes = slices.Insert(nodes, i, n)
				e.removed = nil
			}
		}
	}
	e.nodes.Store(&nodes)
}

func (e *entry) stateLocked(key string) *nodeState {
	s := e.states[key]
	if s == nil {
		s = &nodeState{}
		e.states[key] = s
	}
	return s
}

// inlineNodes is how many nodes a selection tracks without allocating.
const inlineNodes = 8

// selection is the state of one call: which candidates it has tried.
type selection struct {
	cache   *Cache
	service string
	nodes   []*cachedNode

	mu         sync.Mutex
	left       int
	tried      []bool        // by index in nodes
	finished   []atomic.Bool // by index in nodes: Done was called
	candidates []Candidate
	index      []int // index in nodes of each candidate

	inline struct {
		tried      [inlineNodes]bool
		finished   [inlineNodes]atomic.Bool
		candidates [inlineNodes]Candidate
		index      [inlineNodes]int
	}
}

func newSelection(c *Cache, service string, nodes []*cachedNode) *selection {
	s := &selection{cache: c, service: service, nodes: nodes, left: len(nodes)}
	if n := len(nodes); n <= inlineNodes {
		s.tried = s.inline.tried[:n]
		s.finished = s.inline.finished[:n]
		s.candidates = s.inline.candidates[:0]
		s.index = s.inline.index[:0]
	} else {
		s.tried = make([]bool, n)
		s.finished = make([]atomic.Bool, n)
		s.candidates = make([]Candidate, 0, n)
		s.index = make([]int, 0, n)
	}
	return s
}

func (s *selection) next() (*registry.Node, Done, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == 0 {
		return nil, nil, fmt.Errorf("selector: %w: tried all %s of %q", ErrExhausted, plural(len(s.nodes), "node"), s.service)
	}
	s.collect(true)
	if len(s.candidates) == 0 {
		// Every node left is ejected: try one anyway rather than fail.
		s.collect(false)
		s.cache.log.Debug("selector: every remaining node is ejected; trying one anyway", "service", s.service, "nodes", len(s.candidates))
	}
	pick := s.cache.opts.Strategy.Pick(s.service, s.candidates)
	if pick < 0 || pick >= len(s.candidates) {
		return nil, nil, fmt.Errorf("selector: strategy %T picked candidate %d of %d for %q", s.cache.opts.Strategy, pick, len(s.candidates), s.service)
	}
	i := s.index[pick]
	s.tried[i] = true
	s.left--
	n := s.nodes[i]
	n.state.inFlight.Add(1)
	return n.node, func(err error) { s.done(i, err) }, nil
}

// done ends the call to node i; only its first call counts.
func (s *selection) done(i int, err error) {
	if s.finished[i].CompareAndSwap(false, true) {
		n := s.nodes[i]
		n.state.inFlight.Add(-1)
		s.cache.feedback(s.service, n.node, n.state, err)
	}
}

// collect gathers the untried nodes as candidates, without the ejected ones
// when skipEjected is set.
func (s *selection) collect(skipEjected bool) {
	s.candidates, s.index = s.candidates[:0], s.index[:0]
	var now int64
	for i, n := range s.nodes {
		if s.tried[i] {
			continue
		}
		if until := n.state.ejectedUntil.Load(); skipEjected && until != 0 {
			if now == 0 {
				now = s.cache.opts.Now().UnixNano()
			}
			if now < until {
				continue
			}
		}
		s.candidates = append(s.candidates, n.candidate())
		s.index = append(s.index, i)
	}
}
