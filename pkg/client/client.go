package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
	"github.com/microtools/micro/pkg/transport"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
	httptransport "github.com/microtools/micro/pkg/transport/http"
)

// ErrNoDescriptors is wrapped by Call when the service's nodes speak
// go-micro's mucp and no descriptors were given (Options.Source): nothing
// was sent. Call such endpoints with CallJSON, or give .proto files or a
// protoset.
var ErrNoDescriptors = errors.New("no descriptors for a mucp service")

// DefaultRetries is how many other nodes a call tries after the first
// could not be reached, when Options.Retries is zero.
const DefaultRetries = 1

// Options configure a Client. Registry (or Address) is required;
// everything else has a default.
type Options struct {
	// Registry is where services are found by name.
	Registry registry.Registry
	// Selector picks the node of each call. Nil: a selector.Cache over
	// Registry with the Random strategy and SelectorOptions (selector.NoWatch
	// for a process that makes one call, say), closed by Close.
	Selector        selector.Selector
	SelectorOptions []selector.Option
	// SelectOptions narrow the nodes of every call (selector.WithVersion,
	// selector.WithMetadata).
	SelectOptions []selector.SelectOption
	// Address, when set, sends every call to this host:port without a
	// registry: the service name only names the call and its descriptor
	// cache entry. AddressTransport says what it speaks: "grpc" (the
	// default) or "http" (go-micro's mucp).
	Address          string
	AddressTransport string

	// Dial says how to connect to gRPC nodes (pkg/transport/grpc): TLS,
	// timeouts, message sizes.
	Dial grpctransport.DialOptions
	// ReflectionHeaders are sent on the reflection requests that describe
	// services (credentials of servers that authenticate reflection). The
	// headers of a call are given to Call (call.WithHeaders) apart.
	ReflectionHeaders metadata.MD
	// Source, when set, describes every service (.proto files or
	// protosets, say): servers are not asked through reflection and
	// nothing is cached. mucp nodes are called with protobuf bodies only
	// with it.
	Source call.DescriptorSource
	// CacheDir is where the descriptors fetched through reflection are
	// kept between processes, one entry per service, version and
	// descriptors fingerprint of the node (see call.CacheKey). An entry of
	// a node without a fingerprint may be stale: a call whose request
	// names a field it lacks, or whose response has fields it lacks,
	// fetches it again once. Empty: no on-disk cache; each process asks a
	// server.
	CacheDir string
	// Refresh ignores the cache entries on first use: each is fetched
	// afresh and rewritten.
	Refresh bool
	// OnCacheWriteError is told when a cache entry cannot be written; the
	// call goes on. Nil ignores such errors.
	OnCacheWriteError func(error)

	// HTTP configures go-micro's HTTP transport, for mucp nodes.
	HTTP httptransport.Options
	// RememberNodes, with CacheDir, keeps in CacheDir a node of each
	// service called (one chosen at random among the call's candidates),
	// for the next process's Prepare to connect to ahead of the registry's
	// answer: for a command that makes one call and exits. The selector
	// the client makes then prefers that node when the registry lists it
	// (calls made one process after another still spread over the nodes
	// at random).
	RememberNodes bool

	// Retries is how many other nodes a call tries when the one it chose
	// cannot be reached (a connection error, or Unavailable before the
	// request was sent); zero means DefaultRetries, negative none.
	Retries int
}

// Client calls services by name. It picks a node through the selector,
// looks at what the node speaks (its "protocol", "server" and "transport"
// metadata, as go-micro writes them; a node that says nothing speaks
// gRPC) and sends the call over that transport, keeping one connection per
// node address for all its calls. A call fails over to another node only
// when it cannot have reached a server (see Call).
//
// gRPC nodes are called with dynamic messages (pkg/call), the method found
// through reflection (with an on-disk cache keyed by service, version and
// descriptors fingerprint) or through the descriptors given; mucp nodes
// through the HTTP transport, with the JSON as it is (CallJSON) or as
// protobuf when descriptors are given (Call). It is safe for concurrent
// use; Close releases its connections.
type Client struct {
	opts        Options
	selector    selector.Selector
	ownSelector bool
	retries     int
	dial        grpctransport.DialOptions // opts.Dial
	grpcSelect  []selector.SelectOption   // opts.SelectOptions and SpeaksGRPC
	mucpSelect  []selector.SelectOption   // opts.SelectOptions and the other nodes
	http        *httptransport.Transport
	addressNode *registry.Node // the node of Options.Address, the same for every call

	ctx    context.Context // ends at Close; bounds resolver lookups
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	conns     map[string]*pooledConn                  // gRPC, by address
	dropped   map[*pooledConn]bool                    // out of the pool, still in use
	mucpConns map[string]transport.Conn               // by address
	sources   map[call.CacheKey]*cachedEntry          // by service, version and address
	latest    map[string]call.DescriptorSource        // by service: the source its last call used
	resolvers map[call.DescriptorSource]call.Resolver // one per source
	byService map[string]*serviceResolver             // what Resolver returns
	prepared  map[string]*prepared                    // by service: what Prepare began

	background sync.WaitGroup // what Prepare began; Close waits for it
}

// New returns a Client; it connects to nothing until the first call.
func New(opts Options) (*Client, error) {
	if opts.Registry == nil && opts.Selector == nil && opts.Address == "" {
		return nil, errors.New("client: no registry, selector or address: set Options.Registry")
	}
	c := &Client{
		opts:      opts,
		retries:   opts.Retries,
		dial:      opts.Dial,
		http:      httptransport.New(opts.HTTP),
		conns:     map[string]*pooledConn{},
		dropped:   map[*pooledConn]bool{},
		mucpConns: map[string]transport.Conn{},
		sources:   map[call.CacheKey]*cachedEntry{},
		latest:    map[string]call.DescriptorSource{},
		resolvers: map[call.DescriptorSource]call.Resolver{},
		byService: map[string]*serviceResolver{},
		prepared:  map[string]*prepared{},
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	c.grpcSelect = append(append([]selector.SelectOption(nil), opts.SelectOptions...), selector.WithFilter(SpeaksGRPC))
	c.mucpSelect = append(append([]selector.SelectOption(nil), opts.SelectOptions...), selector.WithFilter(speaksOther))
	if opts.Address != "" {
		c.addressNode = &registry.Node{ID: opts.Address, Address: opts.Address}
	}
	if opts.Address == "" {
		c.selector = opts.Selector
		if c.selector == nil {
			strategy := &preferringStrategy{client: c, base: selector.Random()}
			selOpts := append([]selector.Option{selector.Registry(opts.Registry), selector.UseStrategy(strategy)}, opts.SelectorOptions...)
			sel, err := selector.New(selOpts...)
			if err != nil {
				return nil, fmt.Errorf("client: %w", err)
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
	grpcConns, mucpConns := c.takeConnsLocked()
	c.mu.Unlock()
	c.cancel()
	c.background.Wait()

	var errs []error
	for _, pc := range grpcConns {
		errs = append(errs, pc.close())
	}
	for _, conn := range mucpConns {
		errs = append(errs, conn.Close())
	}
	if c.ownSelector {
		errs = append(errs, c.selector.Close())
	}
	return errors.Join(errs...)
}

// Kind says what a node speaks.
type Kind string

// Kinds of nodes.
const (
	// KindGRPC is gRPC over HTTP/2: services built on pkg/service, go-micro
	// services with its gRPC server, nodes that say nothing.
	KindGRPC Kind = "grpc"
	// KindMucp is go-micro's mucp over its HTTP transport: a default
	// go-micro service.
	KindMucp Kind = "mucp"
	// KindUnsupported is a node micro cannot call: mucp over a transport
	// micro does not speak (go-micro's "grpc" or "nats" transports under a
	// mucp server), or another protocol (a kratos HTTP server says
	// protocol "http").
	KindUnsupported Kind = "unsupported"
)

// KindOf says what node speaks, from its "protocol", "server" and
// "transport" metadata as go-micro writes them: grpc/grpc/grpc for its
// gRPC server, mucp/mucp/http for its default one. A node that says
// nothing is gRPC.
func KindOf(node *registry.Node) Kind {
	if node == nil {
		return KindGRPC
	}
	md := node.Metadata
	protocol, server, tr := md["protocol"], md["server"], md["transport"]
	mucp := protocol == "mucp" || server == "mucp"
	switch {
	case mucp && (tr == "" || tr == transport.NameHTTP):
		return KindMucp
	case mucp:
		return KindUnsupported
	case protocol == "" && server == "" && tr == transport.NameHTTP:
		return KindMucp // an older go-micro node: http transport, no protocol
	case protocol != "" && protocol != "grpc":
		return KindUnsupported
	}
	return KindGRPC
}

// SpeaksGRPC keeps the nodes that speak gRPC.
var SpeaksGRPC = selector.FilterFunc("transport grpc", func(c selector.Candidate) bool { return KindOf(c.Node) == KindGRPC })

// speaksOther keeps the nodes that do not speak gRPC.
var speaksOther = selector.FilterFunc("transport mucp", func(c selector.Candidate) bool { return KindOf(c.Node) != KindGRPC })

// Kind says which transport a call to service would use: KindGRPC when
// it has nodes that speak gRPC, else KindMucp when it has nodes that speak
// go-micro's mucp (or, with Address, when AddressTransport is "http"). A
// service with nodes of both kinds is called through its gRPC nodes.
func (c *Client) Kind(ctx context.Context, service string) (Kind, error) {
	if c.opts.Address != "" {
		if c.opts.AddressTransport == transport.NameHTTP || c.opts.AddressTransport == string(KindMucp) {
			return KindMucp, nil
		}
		return KindGRPC, nil
	}
	_, err := c.selector.Select(ctx, service, c.grpcSelect...)
	if !errors.Is(err, selector.ErrNoMatch) {
		return KindGRPC, err
	}
	if _, err := c.selector.Select(ctx, service, c.mucpSelect...); err != nil {
		return "", err
	}
	return KindMucp, nil
}

// Call calls endpoint of service with the requests of supplier, telling
// handler what happens, as call.Invoke does, over the node it picks.
//
// gRPC nodes are tried first (a service with nodes of both kinds is called
// through its gRPC ones): the client connects (reusing the connection of
// an earlier call), resolves the endpoint as call.FindMethod does and
// invokes the method with every stream kind. When the node cannot be
// reached, or the connection fails before the request's headers were sent
// (the request cannot have reached a server), the node is reported to the
// selector (which ejects it for a while) and the call is made again on
// another node, up to Options.Retries, with the same requests. A call that
// may have reached a server is not made again: an Unavailable status from
// a server that received it is the call's error, unless the method
// declares itself idempotent in its descriptor (idempotency_level) and had
// no response yet. An attempt that fails is told to handler as usual, so
// handler may see the headers and trailers of more than one attempt. The
// error of a call that fails on every node is an *AttemptsError. The
// steps are told to the call.ClientTrace of call.WithTrace.
//
// mucp nodes are called over HTTP with protobuf bodies, which needs
// descriptors (Options.Source: .proto files or a protoset) since go-micro
// services have no reflection; they take one request and answer one
// response.
func (c *Client) Call(ctx context.Context, service, endpoint string, supplier call.RequestSupplier, handler call.EventHandler, opts ...call.InvokeOption) error {
	if !c.addressSpeaksMucp() {
		err := c.callGRPC(ctx, service, endpoint, supplier, handler, opts)
		if c.opts.Address != "" || !errors.Is(err, selector.ErrNoMatch) {
			return err
		}
		// No node speaks gRPC: the mucp ones, if any.
		if kind, kindErr := c.Kind(ctx, service); kindErr != nil || kind != KindMucp {
			return err
		}
	}
	return c.callMucpProto(ctx, service, endpoint, supplier, handler, opts)
}

// addressSpeaksMucp tells whether Options.Address is a mucp node.
func (c *Client) addressSpeaksMucp() bool {
	return c.opts.Address != "" && (c.opts.AddressTransport == transport.NameHTTP || c.opts.AddressTransport == string(KindMucp))
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
