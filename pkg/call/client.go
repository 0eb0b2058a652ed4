package call

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
)

// DefaultRetries is how many other nodes a Client tries after the first
// one cannot be reached, when ClientOptions.Retries is zero.
const DefaultRetries = 1

// maxReplay bounds how many requests of one call a Client keeps so that it
// can send them again to another node. A call that sent more is not
// retried.
const maxReplay = 1024

// ClientOptions configure a Client. Registry (or Address) is required;
// everything else has a default.
type ClientOptions struct {
	// Registry is where services are found by name.
	Registry registry.Registry
	// Selector picks the node of each call. Nil: a selector.Cache over
	// Registry with the Random strategy, which the Client closes on Close.
	Selector selector.Selector
	// SelectorOptions configure the selector the Client builds when
	// Selector is nil, after its defaults (selector.NoWatch for a process
	// that makes one call, say).
	SelectorOptions []selector.Option
	// SelectOptions narrow the nodes of every call (selector.WithVersion,
	// selector.WithMetadata).
	SelectOptions []selector.SelectOption
	// Address, when set, sends every call to this host:port without a
	// registry: the service name only names the call and its descriptor
	// cache entry.
	Address string

	// Dial says how to connect to nodes: TLS, timeouts, message sizes.
	Dial DialOptions
	// ReflectionHeaders are sent on the reflection requests that describe
	// services (credentials of servers that authenticate reflection). The
	// headers of a call are given to Call (WithHeaders) apart.
	ReflectionHeaders metadata.MD

	// Source, when set, describes every service (.proto files or
	// protosets, say): servers are not asked through reflection and
	// nothing is cached.
	Source DescriptorSource
	// CacheDir is where the descriptors fetched through reflection are
	// kept between processes, one entry per service, version and
	// descriptors fingerprint of the node (see CacheKey). An entry of a
	// node without a fingerprint may be stale: a call whose request names
	// a field it lacks, or whose response has fields it lacks, fetches it
	// again once. Empty: no on-disk cache; each process asks a server.
	CacheDir string
	// Refresh ignores the cache entries on first use: each is fetched
	// afresh and rewritten.
	Refresh bool
	// OnCacheWriteError is told when a cache entry cannot be written; the
	// call goes on. Nil ignores such errors.
	OnCacheWriteError func(error)

	// Retries is how many other nodes a call tries when the node it chose
	// cannot be reached (a connection error, or Unavailable before any
	// response). Zero means DefaultRetries; negative means none.
	Retries int
}

// Client calls services by name: it picks a node through a selector, keeps
// one connection per node address for all its calls, finds the method
// through reflection (with an on-disk cache keyed by service, version and
// descriptors fingerprint)
// or through the descriptors it was given, and fails over to another node
// when the one it chose cannot be reached. It is safe for concurrent use;
// Close releases its connections.
type Client struct {
	opts        ClientOptions
	selector    selector.Selector
	ownSelector bool
	retries     int

	ctx    context.Context // ends at Close; bounds resolver lookups
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	conns     map[string]*pooledConn        // by address
	dropped   map[*pooledConn]bool          // out of the pool, still in use
	sources   map[CacheKey]*cachedEntry     // by service, version and address
	latest    map[string]DescriptorSource   // by service: the source its last call used
	resolvers map[DescriptorSource]Resolver // one per source
	byService map[string]*serviceResolver   // what Resolver returns
}

// pooledConn is one connection of the pool, dialled once. A connection
// that failed leaves the pool and is closed once no attempt uses it.
type pooledConn struct {
	address    string
	ready      chan struct{} // closed once the dial has ended
	conn       *grpc.ClientConn
	err        error
	reflection *ReflectionSource
	closeOnce  sync.Once

	// Guarded by Client.mu.
	users   int  // attempts using it
	dropped bool // out of the pool
}

// close closes the connection and its reflection client.
func (pc *pooledConn) close() error {
	var err error
	pc.closeOnce.Do(func() {
		<-pc.ready
		if pc.conn != nil {
			_ = pc.reflection.Close()
			err = pc.conn.Close()
		}
	})
	return err
}

// cachedEntry is the descriptor cache entry of one key and the source that
// fetches into it, pointed at the node of the call in progress.
type cachedEntry struct {
	cache *CachedSource
	fetch *switchingSource
}

// NewClient returns a Client. It connects to nothing until the first call.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Registry == nil && opts.Selector == nil && opts.Address == "" {
		return nil, errors.New("call client: no registry, selector or address: set ClientOptions.Registry")
	}
	c := &Client{
		opts:      opts,
		retries:   opts.Retries,
		conns:     map[string]*pooledConn{},
		dropped:   map[*pooledConn]bool{},
		sources:   map[CacheKey]*cachedEntry{},
		latest:    map[string]DescriptorSource{},
		resolvers: map[DescriptorSource]Resolver{},
		byService: map[string]*serviceResolver{},
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if opts.Address == "" {
		c.selector = opts.Selector
		if c.selector == nil {
			selOpts := append([]selector.Option{selector.Registry(opts.Registry), selector.UseStrategy(selector.Random())}, opts.SelectorOptions...)
			sel, err := selector.New(selOpts...)
			if err != nil {
				return nil, fmt.Errorf("call client: %w", err)
			}
			c.selector, c.ownSelector = sel, true
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Close closes every connection of the pool and, when the Client made it,
// the selector. Calls in progress fail.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var conns []*pooledConn
	for _, pc := range c.conns {
		conns = append(conns, pc)
	}
	for pc := range c.dropped {
		conns = append(conns, pc)
	}
	c.conns, c.dropped = map[string]*pooledConn{}, map[*pooledConn]bool{}
	c.mu.Unlock()
	c.cancel()

	var errs []error
	if c.ownSelector {
		errs = append(errs, c.selector.Close())
	}
	for _, pc := range conns {
		errs = append(errs, pc.close())
	}
	return errors.Join(errs...)
}

// ClientTrace is told what Client.Call does, step by step, for diagnostics
// such as `micro call -v`. Nil functions are skipped; they are called from
// the goroutine that called Call.
type ClientTrace struct {
	// NodeSelected is told the node chosen for an attempt and the version
	// of the service it runs ("" when unknown).
	NodeSelected func(node *registry.Node, version string)
	// Connected is told how the connection to the node went; reused is set
	// when the client had it already.
	Connected func(address string, took time.Duration, reused bool, err error)
	// MethodResolved is told the method found for the endpoint, where its
	// descriptors came from, and how long finding it took.
	MethodResolved func(method protoreflect.MethodDescriptor, from string, took time.Duration, err error)
	// Retrying is told why an attempt on node failed, when the call goes
	// on to another node (just before NodeSelected tells which).
	Retrying func(node *registry.Node, err error)
}

// WithTrace reports the steps of a Client.Call to trace. Invoke ignores it.
func WithTrace(trace *ClientTrace) InvokeOption {
	return func(o *invokeOptions) { o.trace = trace }
}

// AttemptsError is the error of a call that failed on every node it tried.
// Errors lists the attempts in order; errors.Is and errors.As see each of
// them.
type AttemptsError struct {
	Service string
	Errors  []error
}

// Error is "greeter: 2 attempts failed: first; second".
func (e *AttemptsError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, err := range e.Errors {
		parts[i] = err.Error()
	}
	return fmt.Sprintf("%s: %d attempts failed: %s", e.Service, len(e.Errors), strings.Join(parts, "; "))
}

// Unwrap returns the errors of the attempts, the last first, so that
// errors.As finds the last attempt's status.
func (e *AttemptsError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, err := range e.Errors {
		out[len(e.Errors)-1-i] = err
	}
	return out
}

// Call calls endpoint of service: it picks a node, connects (reusing the
// connection of an earlier call), resolves the endpoint as FindMethod does
// and invokes the method as Invoke does, with the requests of supplier and
// the events told to handler.
//
// When the node cannot be reached, or the connection fails before the
// request's headers were sent (the request cannot have reached a server),
// the node is reported to the selector (which ejects it for a while) and
// the call is made again on another node, up to the Retries of the client,
// with the same requests. A call that may have reached a server is not
// made again: an Unavailable status from a server that received it is the
// call's error, unless the method declares itself idempotent in its
// descriptor and had no response yet (see mayRetryElsewhere).
// An attempt that fails is told to handler as usual, so handler may see
// the headers and trailers of more than one attempt. The error of a call
// that fails on every node is an *AttemptsError.
func (c *Client) Call(ctx context.Context, service, endpoint string, supplier RequestSupplier, handler EventHandler, opts ...InvokeOption) error {
	var o invokeOptions
	for _, opt := range opts {
		opt(&o)
	}
	trace := o.trace
	if trace == nil {
		trace = &ClientTrace{}
	}
	next, err := c.nodes(ctx, service)
	if err != nil {
		return err
	}
	if supplier == nil {
		supplier = Messages()
	}
	guard := newStaleGuard(ctx, service, endpoint)
	requests := newReplay(guard.supplier(supplier))
	handler = guard.handler(handler)
	var failed []error
	var failedNode *registry.Node
	for attempt := 0; attempt <= c.retries; attempt++ {
		node, done, err := next()
		if err != nil {
			if attempt == 0 {
				return err
			}
			break // no other node
		}
		if failedNode != nil && trace.Retrying != nil {
			trace.Retrying(failedNode, failed[len(failed)-1])
		}
		version := c.versionOf(service, node)
		if trace.NodeSelected != nil {
			trace.NodeSelected(node, version)
		}
		tracker := &responseTracker{requests: requests}
		outcome, err := c.attempt(ctx, service, endpoint, node, version, guard, requests.view(), tracker.wrap(handler), trace, opts)
		done(err)
		if err == nil {
			return nil
		}
		if !mayRetryElsewhere(ctx, err, outcome) || tracker.answered.Load() || !requests.replayable() {
			if len(failed) > 0 {
				return &AttemptsError{Service: service, Errors: append(failed, err)}
			}
			return err
		}
		failed, failedNode = append(failed, err), node
	}
	if len(failed) == 1 {
		return failed[0]
	}
	return &AttemptsError{Service: service, Errors: failed}
}

// Source returns the descriptors of service, from a node chosen as for a
// call (failing over to another one that cannot be reached): for
// describing a service, or completing its methods.
func (c *Client) Source(ctx context.Context, service string) (DescriptorSource, error) {
	if c.opts.Source != nil {
		c.setLatest(service, c.opts.Source)
		return c.opts.Source, nil
	}
	next, err := c.nodes(ctx, service)
	if err != nil {
		return nil, err
	}
	var failed []error
	for attempt := 0; attempt <= c.retries; attempt++ {
		node, done, err := next()
		if err != nil {
			if attempt == 0 {
				return nil, err
			}
			break
		}
		src, _, err := c.sourceAt(ctx, service, node, c.versionOf(service, node))
		if err == nil {
			// Make sure the node can describe it: a cold cache fetches now.
			_, err = src.ListServices(ctx)
		}
		done(err)
		if err == nil {
			c.setLatest(service, src)
			return src, nil
		}
		if ctx.Err() != nil || !selector.IsConnectionError(err) {
			return nil, err
		}
		failed = append(failed, err)
	}
	if len(failed) == 1 {
		return nil, failed[0]
	}
	return nil, &AttemptsError{Service: service, Errors: failed}
}

// Resolver returns a Resolver over the descriptors of service that the
// client has found: build the requests and format the responses of calls to
// service with it, so that google.protobuf.Any values of the service's
// types are read and written. Before the first call it knows only the
// well-known and google.rpc types; it follows the node each call uses.
func (c *Client) Resolver(service string) Resolver {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.byService[service]
	if r == nil {
		r = &serviceResolver{client: c, service: service}
		c.byService[service] = r
	}
	return r
}

// nodes returns the candidates of one call.
func (c *Client) nodes(ctx context.Context, service string) (selector.Next, error) {
	if c.opts.Address != "" {
		node := &registry.Node{ID: c.opts.Address, Address: c.opts.Address}
		var used atomic.Bool
		return func() (*registry.Node, selector.Done, error) {
			if used.Swap(true) {
				return nil, nil, fmt.Errorf("%w: %s is the only address", selector.ErrExhausted, c.opts.Address)
			}
			return node, func(error) {}, nil
		}, nil
	}
	return c.selector.Select(ctx, service, c.opts.SelectOptions...)
}

// versionOf is the version of service that node runs, when the selector
// knows it.
func (c *Client) versionOf(service string, node *registry.Node) string {
	if v, ok := c.selector.(interface {
		NodeVersion(string, *registry.Node) (string, bool)
	}); ok {
		version, _ := v.NodeVersion(service, node)
		return version
	}
	return ""
}

// attempt makes the call on one node; outcome tells how far it got (see
// mayRetryElsewhere). A connection that failed is dropped from the pool.
func (c *Client) attempt(ctx context.Context, service, endpoint string, node *registry.Node, version string, guard *staleGuard, supplier RequestSupplier, handler EventHandler, trace *ClientTrace, opts []InvokeOption) (outcome attemptOutcome, err error) {
	start := time.Now()
	pc, reused, err := c.conn(ctx, node.Address)
	if trace.Connected != nil {
		trace.Connected(node.Address, time.Since(start), reused, err)
	}
	if err != nil {
		return outcome, err
	}
	defer c.release(pc)
	defer func() {
		if err != nil && ctx.Err() == nil && connectionFailed(err) {
			c.dropConn(pc)
		}
	}()

	start = time.Now()
	src, from, err := c.source(service, node, version, pc)
	var method protoreflect.MethodDescriptor
	if err == nil {
		method, err = FindMethod(ctx, src, service, endpoint)
	}
	if err == nil {
		c.setLatest(service, src)
		// A cache entry keyed by a fingerprint cannot be stale.
		guard.use(src, c.opts.Source == nil && fingerprintOf(node) == "")
	}
	if trace.MethodResolved != nil {
		trace.MethodResolved(method, from(), time.Since(start), err)
	}
	if err != nil {
		return outcome, err
	}
	outcome.invoked = true
	outcome.idempotent = isIdempotent(method)
	progress := &requestProgress{}
	err = Invoke(withRequestProgress(ctx, progress), pc.conn, method, supplier, handler, opts...)
	outcome.requestSent = progress.sent.Load()
	return outcome, err
}

// fingerprintOf is the descriptors fingerprint node publishes, or "".
func fingerprintOf(node *registry.Node) string {
	return node.Metadata[registry.MetadataDescriptorsFingerprint]
}

// connectionFailed tells whether err says the connection of an attempt
// cannot be used: the node is unreachable (Unavailable), or the connection
// was closed under the attempt (dropped after another call's failure).
func connectionFailed(err error) bool {
	return selector.IsConnectionError(err) || errors.Is(err, ErrClosed) || status.Code(err) == codes.Canceled
}

// sourceAt connects to node and returns the descriptor source of service
// there. The connection stays in use until the client is closed, since the
// source may be used any time.
func (c *Client) sourceAt(ctx context.Context, service string, node *registry.Node, version string) (DescriptorSource, string, error) {
	pc, _, err := c.conn(ctx, node.Address)
	if err != nil {
		return nil, "", err
	}
	src, from, err := c.source(service, node, version, pc)
	if err != nil {
		return nil, "", err
	}
	return src, from(), nil
}

// source returns the descriptor source of a call to service on node, and a
// function that says, once the source has been used, where the
// descriptors came from.
func (c *Client) source(service string, node *registry.Node, version string, pc *pooledConn) (DescriptorSource, func() string, error) {
	if c.opts.Source != nil {
		return c.opts.Source, func() string { return fmt.Sprint(c.opts.Source) }, nil
	}
	if c.opts.CacheDir == "" {
		return pc.reflection, func() string { return "reflection at " + node.Address }, nil
	}
	key := CacheKey{Service: service, Version: version, Fingerprint: fingerprintOf(node)}
	if version == "" {
		key.Address = node.Address
	}
	c.mu.Lock()
	entry := c.sources[key]
	if entry == nil {
		fetch := &switchingSource{}
		var cacheOpts []CacheOption
		if c.opts.Refresh {
			cacheOpts = append(cacheOpts, WithRefresh())
		}
		if c.opts.OnCacheWriteError != nil {
			cacheOpts = append(cacheOpts, WithWriteErrorHandler(c.opts.OnCacheWriteError))
		}
		cache, err := NewCachedSource(c.opts.CacheDir, key, fetch, cacheOpts...)
		if err != nil {
			c.mu.Unlock()
			return nil, nil, err
		}
		entry = &cachedEntry{cache: cache, fetch: fetch}
		c.sources[key] = entry
	}
	c.mu.Unlock()
	entry.fetch.use(pc.reflection)
	before := entry.fetch.fetches.Load()
	from := func() string {
		if entry.fetch.fetches.Load() > before {
			return fmt.Sprintf("reflection at %s (saved to the descriptor cache %s)", node.Address, entry.cache.Path())
		}
		return "descriptor cache " + entry.cache.Path()
	}
	return entry.cache, from, nil
}

// conn returns the pool's connection to address, dialling it once, for an
// attempt to use until it calls release.
func (c *Client) conn(ctx context.Context, address string) (pc *pooledConn, reused bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, errors.New("call client: closed")
	}
	pc, found := c.conns[address]
	if !found {
		pc = &pooledConn{address: address, ready: make(chan struct{})}
		c.conns[address] = pc
	}
	pc.users++
	c.mu.Unlock()

	if !found {
		pc.conn, pc.err = Dial(ctx, address, c.opts.Dial)
		if pc.err == nil {
			pc.reflection = NewReflectionSource(pc.conn, WithReflectionHeaders(c.opts.ReflectionHeaders))
		}
		close(pc.ready)
	} else {
		select {
		case <-pc.ready:
		case <-ctx.Done():
			c.release(pc)
			return nil, false, &ConnectError{Address: address, Err: ctx.Err()}
		}
	}
	if pc.err != nil {
		// The next call dials again.
		c.dropConn(pc)
		c.release(pc)
		return nil, false, pc.err
	}
	return pc, found, nil
}

// release ends an attempt's use of pc; a dropped connection is closed once
// no attempt uses it.
func (c *Client) release(pc *pooledConn) {
	c.mu.Lock()
	pc.users--
	closeNow := pc.dropped && pc.users == 0 && c.dropped[pc]
	if closeNow {
		delete(c.dropped, pc)
	}
	c.mu.Unlock()
	if closeNow {
		_ = pc.close()
	}
}

// dropConn takes pc out of the pool after it failed to reach the node, so
// that the next call to the node dials afresh (and reports the real cause
// if it fails again). It is closed once no attempt uses it.
func (c *Client) dropConn(pc *pooledConn) {
	c.mu.Lock()
	if c.conns[pc.address] == pc {
		delete(c.conns, pc.address)
	}
	if pc.dropped || c.closed {
		c.mu.Unlock()
		return
	}
	pc.dropped = true
	closeNow := pc.users == 0
	if !closeNow {
		c.dropped[pc] = true
	}
	c.mu.Unlock()
	if closeNow {
		_ = pc.close()
	}
}

func (c *Client) setLatest(service string, src DescriptorSource) {
	c.mu.Lock()
	c.latest[service] = src
	c.mu.Unlock()
}

// resolverOf returns the Resolver over the source service last used.
func (c *Client) resolverOf(service string) Resolver {
	c.mu.Lock()
	defer c.mu.Unlock()
	src := c.latest[service]
	r := c.resolvers[src]
	if r == nil {
		r = NewResolver(c.ctx, src)
		c.resolvers[src] = r
	}
	return r
}

// responseTracker notes whether a node answered an attempt: after a
// response or a response header, the call is not made again elsewhere.
type responseTracker struct {
	requests *replay
	answered atomic.Bool
}

func (t *responseTracker) answer() {
	if !t.answered.Swap(true) {
		t.requests.stopRecording()
	}
}

// wrap returns handler with the tracking added, keeping whether handler
// wants headers and trailers at all.
func (t *responseTracker) wrap(handler EventHandler) EventHandler {
	h := HandlerFuncs{Response: func(msg proto.Message) error {
		t.answer()
		if handler != nil {
			return handler.OnReceiveResponse(msg)
		}
		return nil
	}}
	if wantsMetadata(handler) {
		h.SendHeaders = handler.OnSendHeaders
		h.ReceiveHeaders = func(md metadata.MD) {
			if len(md) > 0 {
				t.answer()
			}
			handler.OnReceiveHeaders(md)
		}
		h.Trailers = func(st *status.Status, md metadata.MD) { handler.OnReceiveTrailers(st, md) }
	}
	return h
}

// replay keeps the requests a supplier gave so that a call can send them
// again to another node. Each attempt reads through a view of its own: the
// requests given already, then the supplier's next ones. Calls of the
// supplier are serialized, and a request read by an attempt that has been
// given up on (its sender was blocked in the supplier, reading a terminal,
// when its stream failed) is handed over to the latest attempt instead of
// being lost.
type replay struct {
	source RequestSupplier

	read sync.Mutex // held while the supplier is called

	mu        sync.Mutex
	latest    int             // the number of the latest view
	given     []proto.Message // every request given, while recording
	handover  []proto.Message // read by an older view, for the latest
	end       error           // the supplier's last error (io.EOF at the end)
	recording bool            // false once the call will not be made again
}

// errSuperseded ends the sender of an attempt that has been given up on.
var errSuperseded = errors.New("call: attempt superseded by another")

func newReplay(source RequestSupplier) *replay {
	return &replay{source: source, recording: true}
}

func (r *replay) view() RequestSupplier {
	r.mu.Lock()
	r.latest++
	number := r.latest
	r.mu.Unlock()
	next := 0
	// kept returns the next request this view has to send, or the
	// supplier's end, if there is either.
	kept := func() (proto.Message, bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if number != r.latest {
			return nil, true, errSuperseded
		}
		if next < len(r.given) {
			next++
			return r.given[next-1], true, nil
		}
		if len(r.handover) > 0 {
			msg := r.handover[0]
			r.handover = r.handover[1:]
			return msg, true, nil
		}
		if r.end != nil {
			return nil, true, r.end
		}
		return nil, false, nil
	}
	return func(input protoreflect.MessageType) (proto.Message, error) {
		if msg, ok, err := kept(); ok {
			return msg, err
		}
		r.read.Lock()
		defer r.read.Unlock()
		// Another view may have read while this one waited.
		if msg, ok, err := kept(); ok {
			return msg, err
		}
		msg, err := r.source(input)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.end = err
			return nil, err
		}
		superseded := number != r.latest
		switch {
		case r.recording && len(r.given) < maxReplay:
			r.given = append(r.given, msg)
			if !superseded {
				next = len(r.given)
			}
		case r.recording:
			r.recording, r.given = false, nil
			if superseded {
				r.handover = append(r.handover, msg)
			}
		case superseded:
			r.handover = append(r.handover, msg)
		}
		if superseded {
			return nil, errSuperseded
		}
		return msg, nil
	}
}

// stopRecording drops the requests kept: the call will not be made again.
func (r *replay) stopRecording() {
	r.mu.Lock()
	r.recording, r.given = false, nil
	r.mu.Unlock()
}

// replayable tells whether every request given so far was kept.
func (r *replay) replayable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recording
}

// switchingSource is the fetch source of a cache entry: the reflection
// source of the node the current call uses. Every node of one service
// version describes it the same way, so any of them will do.
type switchingSource struct {
	current atomic.Pointer[ReflectionSource]
	fetches atomic.Int64
}

func (s *switchingSource) use(src *ReflectionSource) { s.current.Store(src) }

func (s *switchingSource) ListServices(ctx context.Context) ([]string, error) {
	s.fetches.Add(1)
	return s.current.Load().ListServices(ctx)
}

func (s *switchingSource) FindSymbol(ctx context.Context, name string) (protoreflect.Descriptor, error) {
	s.fetches.Add(1)
	return s.current.Load().FindSymbol(ctx, name)
}

// serviceResolver is the Resolver of Client.Resolver: it follows the
// descriptors the service's latest call used.
type serviceResolver struct {
	client  *Client
	service string
}

func (r *serviceResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return r.client.resolverOf(r.service).FindMessageByName(name)
}

func (r *serviceResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return r.client.resolverOf(r.service).FindMessageByURL(url)
}

func (r *serviceResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return r.client.resolverOf(r.service).FindExtensionByName(name)
}

func (r *serviceResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return r.client.resolverOf(r.service).FindExtensionByNumber(message, field)
}
