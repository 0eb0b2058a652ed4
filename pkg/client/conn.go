package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// Scheme is the scheme of the targets Dial resolves: "micro:///greeter".
const Scheme = "micro"

// balancerName is the gRPC balancer that picks with a selector.Strategy.
const balancerName = "micro_selector"

// DialOptions configure Dial.
type DialOptions struct {
	// Registry is where the service's nodes are found; required.
	Registry registry.Registry
	// Strategy picks the node of each call among the ready ones; nil is
	// selector.RoundRobin().
	Strategy selector.Strategy
	// Filters keep only some nodes (selector.FilterFunc; versions and
	// metadata: see VersionFilter and MetadataFilter).
	Filters []selector.Filter
	// Transport says how connections are made: TLS, client certificates,
	// message sizes. Its DialOptions are added to the connection's.
	Transport grpctransport.DialOptions
	// RetryWatch is the pause before the watch of the registry is started
	// again after it failed; zero is a second.
	RetryWatch time.Duration
	// Idempotent names methods that are safe to run twice
	// ("greeter.v1.Greeter/Hello", or "greeter.v1.Greeter/" for every
	// method of the service). A call of one of them that fails with
	// Unavailable before any response (its node died with the request in
	// flight) is made again on another node, up to twice. Other methods
	// are only sent again when they cannot have reached a server.
	Idempotent []string
}

// VersionFilter keeps the nodes of one version of the service.
func VersionFilter(version string) selector.Filter {
	return selector.FilterFunc(fmt.Sprintf("version %q", version), func(c selector.Candidate) bool { return c.Version == version })
}

// MetadataFilter keeps the nodes whose metadata has key=value.
func MetadataFilter(key, value string) selector.Filter {
	return selector.FilterFunc(fmt.Sprintf("metadata %s=%s", key, value), func(c selector.Candidate) bool {
		return c.Node.Metadata[key] == value
	})
}

var registerBalancer sync.Once

// Dial returns a connection to service for generated stubs
// (greeterpb.NewGreeterClient(conn)): gRPC's own resolver and balancer,
// fed by the registry (one lookup, then its watch) and picking among the
// nodes that are ready with the selector strategy, round robin by default.
// Only nodes that speak gRPC are used. A node that goes away, or whose
// connection breaks, stops being picked; a call that gRPC had not yet sent
// on a broken connection is sent on another (gRPC's transparent retry), and
// a call a server may have received is never sent again: the same rule as
// micro call. Close the connection when done; that stops the watch.
//
// The balancer is registered with gRPC once, on the first Dial, under the
// name "micro_selector" (gRPC keeps balancers in a process-wide table).
func Dial(service string, opts DialOptions) (*grpc.ClientConn, error) {
	if opts.Registry == nil {
		return nil, errors.New("client: dial " + service + ": no registry")
	}
	if strings.TrimSpace(service) == "" {
		return nil, errors.New("client: dial: no service name")
	}
	registerBalancer.Do(func() {
		balancer.Register(base.NewBalancerBuilder(balancerName, pickerBuilder{}, base.Config{HealthCheck: false}))
	})
	if opts.Strategy == nil {
		opts.Strategy = selector.RoundRobin()
	}
	if opts.RetryWatch <= 0 {
		opts.RetryWatch = time.Second
	}
	creds, err := grpctransport.Credentials(opts.Transport)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", service, err)
	}
	builder := &resolverBuilder{opts: opts, state: &pickState{service: service, strategy: opts.Strategy}}
	dialOptions := []grpc.DialOption{
		grpc.WithResolvers(builder),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig(opts.Idempotent)),
	}
	if opts.Transport.Authority != "" {
		dialOptions = append(dialOptions, grpc.WithAuthority(opts.Transport.Authority))
	}
	dialOptions = append(dialOptions, opts.Transport.DialOptions...)
	conn, err := grpc.NewClient(Scheme+":///"+service, dialOptions...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", service, err)
	}
	return conn, nil
}

// serviceConfig is the gRPC service config of Dial: the balancer, and a
// retry policy for the idempotent methods.
func serviceConfig(idempotent []string) string {
	config := map[string]any{"loadBalancingConfig": []any{map[string]any{balancerName: map[string]any{}}}}
	var names []map[string]string
	for _, m := range idempotent {
		service, method, _ := strings.Cut(strings.TrimPrefix(m, "/"), "/")
		name := map[string]string{"service": service}
		if method != "" {
			name["method"] = method
		}
		names = append(names, name)
	}
	if len(names) > 0 {
		config["methodConfig"] = []any{map[string]any{
			"name": names,
			"retryPolicy": map[string]any{
				"maxAttempts":          3,
				"initialBackoff":       "0.01s",
				"maxBackoff":           "0.1s",
				"backoffMultiplier":    2,
				"retryableStatusCodes": []string{"UNAVAILABLE"},
			},
		}}
	}
	data, _ := json.Marshal(config)
	return string(data)
}

// pickState is shared by the resolver and the pickers of one connection:
// the strategy and the calls in flight on each node.
type pickState struct {
	service  string
	strategy selector.Strategy

	mu       sync.Mutex
	inFlight map[string]*atomic.Int64 // by node ID
}

func (s *pickState) counter(id string) *atomic.Int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight == nil {
		s.inFlight = map[string]*atomic.Int64{}
	}
	c := s.inFlight[id]
	if c == nil {
		c = &atomic.Int64{}
		s.inFlight[id] = c
	}
	return c
}

type attrKey struct{}

// nodeAttr is what an address carries for the picker.
type nodeAttr struct {
	node    *registry.Node
	version string
	state   *pickState
}

// Equal lets gRPC compare addresses' balancer attributes.
func (a *nodeAttr) Equal(o any) bool {
	b, ok := o.(*nodeAttr)
	return ok && a.node.ID == b.node.ID && a.node.Address == b.node.Address && a.version == b.version && a.state == b.state
}

// resolverBuilder resolves "micro:///SERVICE" from the registry.
type resolverBuilder struct {
	opts  DialOptions
	state *pickState
}

func (b *resolverBuilder) Scheme() string { return Scheme }

func (b *resolverBuilder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service := strings.TrimPrefix(target.Endpoint(), "/")
	ctx, cancel := context.WithCancel(context.Background())
	r := &registryResolver{
		opts: b.opts, state: b.state, service: service, cc: cc,
		ctx: ctx, cancel: cancel, nodes: map[string]nodeAttr{}, resolveNow: make(chan struct{}, 1),
		exited: make(chan struct{}),
	}
	go r.run()
	return r, nil
}

// registryResolver keeps gRPC's address list equal to the service's nodes.
type registryResolver struct {
	opts    DialOptions
	state   *pickState
	service string
	cc      resolver.ClientConn

	ctx        context.Context
	cancel     context.CancelFunc
	resolveNow chan struct{}
	exited     chan struct{}

	nodes map[string]nodeAttr // by node ID; only run touches it
}

func (r *registryResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.resolveNow <- struct{}{}:
	default:
	}
}

func (r *registryResolver) Close() {
	r.cancel()
	<-r.exited
}

// run looks the service up, then follows the registry's watch; when the
// watch fails it looks up again and starts a new one.
func (r *registryResolver) run() {
	defer close(r.exited)
	for r.ctx.Err() == nil {
		w, err := r.opts.Registry.Watch(r.ctx, registry.WatchService(r.service))
		if err == nil {
			err = r.lookup()
		}
		if err != nil {
			r.cc.ReportError(fmt.Errorf("resolve %s in %s: %w", r.service, r.opts.Registry, err))
			if w != nil {
				w.Stop()
			}
			if !r.pause() {
				return
			}
			continue
		}
		events := make(chan *registry.Event)
		failed := make(chan error, 1)
		go func() {
			for {
				ev, err := w.Next()
				if err != nil {
					failed <- err
					return
				}
				select {
				case events <- ev:
				case <-r.ctx.Done():
					return
				}
			}
		}()
	follow:
		for {
			select {
			case <-r.ctx.Done():
				w.Stop()
				return
			case <-r.resolveNow:
				if err := r.lookup(); err != nil {
					r.cc.ReportError(err)
				}
			case ev := <-events:
				r.apply(ev)
			case <-failed:
				w.Stop()
				if !r.pause() {
					return
				}
				break follow
			}
		}
	}
}

func (r *registryResolver) pause() bool {
	select {
	case <-r.ctx.Done():
		return false
	case <-time.After(r.opts.RetryWatch):
		return true
	}
}

// lookup replaces the node list with the registry's.
func (r *registryResolver) lookup() error {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	records, err := r.opts.Registry.GetService(ctx, r.service)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	nodes := map[string]nodeAttr{}
	for _, rec := range records {
		for _, node := range rec.Nodes {
			nodes[node.ID] = nodeAttr{node: registry.CloneNode(node), version: rec.Version, state: r.state}
		}
	}
	r.nodes = nodes
	return r.push()
}

// apply changes the node list by one event.
func (r *registryResolver) apply(ev *registry.Event) {
	if ev == nil || ev.Service == nil || ev.Service.Name != r.service {
		return
	}
	for _, node := range ev.Service.Nodes {
		switch ev.Type {
		case registry.EventDelete:
			delete(r.nodes, node.ID)
		default:
			r.nodes[node.ID] = nodeAttr{node: registry.CloneNode(node), version: ev.Service.Version, state: r.state}
		}
	}
	_ = r.push()
}

// push gives gRPC the addresses of the nodes that speak gRPC and pass the
// filters.
func (r *registryResolver) push() error {
	var addrs []resolver.Address
	ids := make([]string, 0, len(r.nodes))
	for id := range r.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := r.nodes[id]
		candidate := selector.Candidate{Node: n.node, Version: n.version}
		if KindOf(n.node) != KindGRPC || !keepAll(r.opts.Filters, candidate) {
			continue
		}
		attr := n
		addrs = append(addrs, resolver.Address{
			Addr:               n.node.Address,
			BalancerAttributes: attributes.New(attrKey{}, &attr),
		})
	}
	if len(addrs) == 0 {
		err := fmt.Errorf("no node of %s that speaks grpc and passes the filters in %s", r.service, r.opts.Registry)
		r.cc.ReportError(err)
		return err
	}
	return r.cc.UpdateState(resolver.State{Addresses: addrs})
}

func keepAll(filters []selector.Filter, c selector.Candidate) bool {
	for _, f := range filters {
		if !f.Keep(c) {
			return false
		}
	}
	return true
}

// pickerBuilder builds pickers over the ready connections.
type pickerBuilder struct{}

func (pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	if len(info.ReadySCs) == 0 {
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	p := &picker{}
	for sc, sci := range info.ReadySCs {
		attr, _ := sci.Address.BalancerAttributes.Value(attrKey{}).(*nodeAttr)
		if attr == nil {
			continue
		}
		p.state = attr.state
		p.ready = append(p.ready, readyNode{sc: sc, attr: attr, inFlight: attr.state.counter(attr.node.ID)})
	}
	if p.state == nil {
		return base.NewErrPicker(status.Error(codes.Internal, "client: addresses without node attributes"))
	}
	slices.SortFunc(p.ready, func(a, b readyNode) int { return strings.Compare(a.attr.node.ID, b.attr.node.ID) })
	return p
}

type readyNode struct {
	sc       balancer.SubConn
	attr     *nodeAttr
	inFlight *atomic.Int64
}

type picker struct {
	state *pickState
	ready []readyNode
}

func (p *picker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	candidates := make([]selector.Candidate, len(p.ready))
	for i, n := range p.ready {
		candidates[i] = selector.Candidate{Node: n.attr.node, Version: n.attr.version, InFlight: int(n.inFlight.Load())}
	}
	i := p.state.strategy.Pick(p.state.service, candidates)
	if i < 0 || i >= len(p.ready) {
		i = 0
	}
	chosen := p.ready[i]
	chosen.inFlight.Add(1)
	return balancer.PickResult{SubConn: chosen.sc, Done: func(balancer.DoneInfo) { chosen.inFlight.Add(-1) }}, nil
}
