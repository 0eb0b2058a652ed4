package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
)

// This file is the call to a gRPC node: the node choice, the attempts and
// the failover between them, and the descriptors of each node. The pool
// is in pool.go, the request replay in replay.go and the one rule of
// failover in retry.go.

// callGRPC calls endpoint of service on its gRPC nodes: it picks a node,
// connects (reusing the pool's connection), resolves the endpoint as
// call.FindMethod does and invokes the method as call.Invoke does, with the
// requests of supplier and the events told to handler.
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
func (c *Client) callGRPC(ctx context.Context, service, endpoint string, supplier call.RequestSupplier, handler call.EventHandler, opts []call.InvokeOption) error {
	trace := call.TraceOf(opts...)
	if trace == nil {
		trace = &call.ClientTrace{}
	}
	if supplier == nil {
		supplier = call.Messages()
	}
	// Descriptors a server gave may be stale (see call.StaleGuard); those
	// of Options.Source are what the caller wants.
	var guard *call.StaleGuard
	if c.opts.Source == nil {
		guard = call.NewStaleGuard(ctx, service, endpoint)
		supplier, handler = guard.Supplier(supplier), guard.Handler(handler)
	}
	if c.addressNode != nil || c.retries == 0 {
		// One node, or no retries: one attempt, with nothing to replay
		// and no answer to track for a retry decision.
		return c.onlyAttempt(ctx, service, endpoint, guard, supplier, handler, trace, opts)
	}
	next, err := c.grpcNodes(ctx, service)
	if err != nil {
		return err
	}
	// The node left for the next process is written whatever the outcome,
	// so that a process after one whose node was down does not go to it
	// again rather than to any other.
	defer c.saveHint(service)
	requests := newReplay(supplier)
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
		if attempt == 0 {
			c.firstNodeChosen(service, node, version)
		}
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

// onlyAttempt is the call of callGRPC when it makes one attempt: on the
// node of Options.Address, or on the selector's choice when the client
// makes no retries.
func (c *Client) onlyAttempt(ctx context.Context, service, endpoint string, guard *call.StaleGuard, supplier call.RequestSupplier, handler call.EventHandler, trace *call.ClientTrace, opts []call.InvokeOption) error {
	node, done := c.addressNode, func(error) {}
	if node == nil {
		next, err := c.grpcNodes(ctx, service)
		if err != nil {
			return err
		}
		if node, done, err = next(); err != nil {
			return err
		}
	}
	version := c.versionOf(service, node)
	if c.addressNode == nil {
		c.firstNodeChosen(service, node, version)
		defer c.saveHint(service) // whatever the outcome, as callGRPC
	}
	if trace.NodeSelected != nil {
		trace.NodeSelected(node, version)
	}
	_, err := c.attempt(ctx, service, endpoint, node, version, guard, supplier, handler, trace, opts)
	done(err)
	return err
}

// Source returns the descriptors of a gRPC service, from a node chosen as
// for a call (failing over to another one that cannot be reached), or the
// descriptors of Options.Source: for describing a service, or completing
// its methods.
func (c *Client) Source(ctx context.Context, service string) (call.DescriptorSource, error) {
	if c.opts.Source != nil {
		c.setLatest(service, c.opts.Source)
		return c.opts.Source, nil
	}
	next, err := c.grpcNodes(ctx, service)
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

// Resolver returns a call.Resolver over the descriptors of service that
// the client has found: build the requests and format the responses of
// calls to service with it, so that google.protobuf.Any values of the
// service's types are read and written. Before the first call it knows
// only the well-known and google.rpc types; it follows the node each call
// uses.
func (c *Client) Resolver(service string) call.Resolver {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.byService[service]
	if r == nil {
		r = &serviceResolver{client: c, service: service}
		c.byService[service] = r
	}
	return r
}

// grpcNodes returns the candidates of one call to gRPC nodes: the nodes
// of service that speak gRPC and pass Options.SelectOptions, or the one
// Options.Address.
func (c *Client) grpcNodes(ctx context.Context, service string) (selector.Next, error) {
	if c.addressNode != nil {
		var used atomic.Bool
		return func() (*registry.Node, selector.Done, error) {
			if used.Swap(true) {
				return nil, nil, fmt.Errorf("%w: %s is the only address", selector.ErrExhausted, c.opts.Address)
			}
			return c.addressNode, func(error) {}, nil
		}, nil
	}
	return c.selector.Select(ctx, service, c.grpcSelect...)
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
func (c *Client) attempt(ctx context.Context, service, endpoint string, node *registry.Node, version string, guard *call.StaleGuard, supplier call.RequestSupplier, handler call.EventHandler, trace *call.ClientTrace, opts []call.InvokeOption) (outcome attemptOutcome, err error) {
	start := time.Now()
	pc, reused, ahead, err := c.connAhead(ctx, node.Address)
	if ahead && trace.ConnectedAhead != nil {
		trace.ConnectedAhead(node.Address, pc.dialled)
	}
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
		method, err = call.FindMethod(ctx, src, service, endpoint)
	}
	if err == nil {
		c.setLatest(service, src)
		if guard != nil {
			// A cache entry keyed by a fingerprint cannot be stale.
			guard.Use(src, c.opts.Source == nil && fingerprintOf(node) == "")
		}
	}
	if trace.MethodResolved != nil {
		trace.MethodResolved(method, from.String(), time.Since(start), err)
	}
	if err != nil {
		return outcome, err
	}
	outcome.invoked = true
	outcome.idempotent = isIdempotent(method)
	err = call.Invoke(ctx, pc.conn, method, supplier, handler, append(opts, call.WithRequestSent(&outcome.requestSent))...)
	return outcome, err
}

// fingerprintOf is the descriptors fingerprint node publishes, or "".
func fingerprintOf(node *registry.Node) string {
	return node.Metadata[registry.MetadataDescriptorsFingerprint]
}

// cachedEntry is the descriptor cache entry of one key and the source that
// fetches into it, pointed at the node of the call in progress.
type cachedEntry struct {
	cache *call.CachedSource
	fetch *switchingSource
}

// sourceAt connects to node and returns the descriptor source of service
// there. The connection stays in use until the client is closed, since the
// source may be used any time.
func (c *Client) sourceAt(ctx context.Context, service string, node *registry.Node, version string) (call.DescriptorSource, string, error) {
	pc, _, err := c.conn(ctx, node.Address)
	if err != nil {
		return nil, "", err
	}
	src, from, err := c.source(service, node, version, pc)
	if err != nil {
		return nil, "", err
	}
	return src, from.String(), nil
}

// sourceOrigin says, once a source returned by Client.source has been
// used, where its descriptors came from: made as a value (no closure) on
// every call, formatted only for a trace that asks.
type sourceOrigin struct {
	fixed   call.DescriptorSource // Options.Source
	address string                // of the node, without a cache
	entry   *cachedEntry          // the cache entry
	before  int64                 // the entry's fetches before the call
}

func (o sourceOrigin) String() string {
	switch {
	case o.fixed != nil:
		return fmt.Sprint(o.fixed)
	case o.entry == nil:
		return "reflection at " + o.address
	case o.entry.fetch.fetches.Load() > o.before:
		return fmt.Sprintf("reflection at %s (saved to the descriptor cache %s)", o.address, o.entry.cache.Path())
	}
	return "descriptor cache " + o.entry.cache.Path()
}

// source returns the descriptor source of a call to service on node, and
// what says, once the source has been used, where the descriptors came
// from.
func (c *Client) source(service string, node *registry.Node, version string, pc *pooledConn) (call.DescriptorSource, sourceOrigin, error) {
	if c.opts.Source != nil {
		return c.opts.Source, sourceOrigin{fixed: c.opts.Source}, nil
	}
	if c.opts.CacheDir == "" {
		return pc.reflection, sourceOrigin{address: node.Address}, nil
	}
	entry, err := c.cacheEntry(c.cacheKey(service, version, node.Address, fingerprintOf(node)))
	if err != nil {
		return nil, sourceOrigin{}, err
	}
	entry.fetch.use(pc.reflection)
	return entry.cache, sourceOrigin{address: node.Address, entry: entry, before: entry.fetch.fetches.Load()}, nil
}

// cacheKey is the descriptor cache key of service at a node: its version
// and fingerprint, and its address when the version is unknown.
func (c *Client) cacheKey(service, version, address, fingerprint string) call.CacheKey {
	key := call.CacheKey{Service: service, Version: version, Fingerprint: fingerprint}
	if version == "" {
		key.Address = address
	}
	return key
}

// cacheEntry returns the descriptor cache entry of key, making it on
// first use.
func (c *Client) cacheEntry(key call.CacheKey) (*cachedEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if entry := c.sources[key]; entry != nil {
		return entry, nil
	}
	fetch := &switchingSource{}
	var cacheOpts []call.CacheOption
	if c.opts.Refresh {
		cacheOpts = append(cacheOpts, call.WithRefresh())
	}
	if c.opts.OnCacheWriteError != nil {
		cacheOpts = append(cacheOpts, call.WithWriteErrorHandler(c.opts.OnCacheWriteError))
	}
	cache, err := call.NewCachedSource(c.opts.CacheDir, key, fetch, cacheOpts...)
	if err != nil {
		return nil, err
	}
	entry := &cachedEntry{cache: cache, fetch: fetch}
	c.sources[key] = entry
	return entry, nil
}

func (c *Client) setLatest(service string, src call.DescriptorSource) {
	c.mu.Lock()
	c.latest[service] = src
	c.mu.Unlock()
}

// resolverOf returns the Resolver over the source service last used.
func (c *Client) resolverOf(service string) call.Resolver {
	c.mu.Lock()
	defer c.mu.Unlock()
	src := c.latest[service]
	r := c.resolvers[src]
	if r == nil {
		r = call.NewResolver(c.ctx, src)
		c.resolvers[src] = r
	}
	return r
}

// switchingSource is the fetch source of a cache entry: the reflection
// source of the node the current call uses. Every node of one service
// version describes it the same way, so any of them will do.
type switchingSource struct {
	current atomic.Pointer[call.ReflectionSource]
	fetches atomic.Int64
}

func (s *switchingSource) use(src *call.ReflectionSource) { s.current.Store(src) }

// errNoNodeYet is the error of a fetch before any node was given: the
// descriptors read ahead of a call (Prepare) come from the cache only.
var errNoNodeYet = errors.New("client: no node to fetch descriptors from yet")

func (s *switchingSource) ListServices(ctx context.Context) ([]string, error) {
	current := s.current.Load()
	if current == nil {
		return nil, errNoNodeYet
	}
	s.fetches.Add(1)
	return current.ListServices(ctx)
}

func (s *switchingSource) FindSymbol(ctx context.Context, name string) (protoreflect.Descriptor, error) {
	current := s.current.Load()
	if current == nil {
		return nil, errNoNodeYet
	}
	s.fetches.Add(1)
	return current.FindSymbol(ctx, name)
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
