package etcd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"

	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Registry = (*Registry)(nil)

const (
	// defaultRequestTimeout bounds one request when ctx has no deadline.
	defaultRequestTimeout = 10 * time.Second
	// maxReconnectDelay bounds the pause between attempts to reconnect to
	// a member that went away.
	maxReconnectDelay = time.Second
)

// Registry is a registry.Registry kept in etcd. It is safe for concurrent
// use. Make one with New and Close it when done.
type Registry struct {
	client           *clientv3.Client
	endpoints        []string
	username         string
	prefix           string
	dec              decoder
	onError          func(error)
	progressInterval time.Duration

	mu sync.Mutex
	// leases holds, per key this registry wrote, the lease the key is
	// attached to and the value written, so that a heartbeat with the same
	// record only keeps the lease alive.
	leases map[string]leaseEntry
	// reported holds the mod revision of each skipped record already given
	// to onError, so that each version of a record is reported once.
	reported map[string]int64
	closed   bool
	watchers map[*watcher]struct{}
	// resyncs counts how often a watch read everything again, for tests.
	resyncs atomic.Int64
}

// leaseEntry is what the last full registration of a key wrote.
type leaseEntry struct {
	id    clientv3.LeaseID // 0 for a key without expiry
	ttl   int64            // seconds
	value string
}

// New connects to the etcd cluster the options name (DefaultAddress when
// none), authenticating when WithAuth is given. It fails fast, with an error
// wrapping registry.ErrUnreachable that names the endpoints, when no member
// accepts a connection within the connect timeout (or ctx's deadline, when
// sooner), and with an error wrapping ErrAuth for wrong credentials.
func New(ctx context.Context, opts ...Option) (*Registry, error) {
	o := DefaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	r := &Registry{
		endpoints:        o.Endpoints,
		username:         o.Username,
		prefix:           o.Prefix,
		dec:              decoder{prefix: o.Prefix, layouts: o.Layouts, goZeroKeys: o.GoZeroKeys},
		onError:          o.OnError,
		progressInterval: o.ProgressInterval,
		leases:           map[string]leaseEntry{},
		reported:         map[string]int64{},
		watchers:         map[*watcher]struct{}{},
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("etcd registry: not connected to etcd at %s: %w", r.where(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()

	var tlsCfg *tls.Config
	if o.TLS != nil {
		for _, ep := range o.Endpoints {
			if strings.HasPrefix(ep, "http://") || strings.HasPrefix(ep, "unix://") {
				return nil, fmt.Errorf("etcd registry: endpoint %s is plain text, but TLS settings were given: use https:// (or unixs://), or host:port", ep)
			}
		}
		var err error
		if tlsCfg, err = o.TLS.tlsConfig(); err != nil {
			return nil, err
		}
	}
	// The etcd client dials lazily and waits for a connection on every
	// request; try the endpoints first so that a cluster nobody listens on
	// is reported at once with the reason.
	if err := probe(ctx, o.Endpoints); err != nil {
		return nil, unreachable("connect", r.where(), err)
	}
	timeout := o.ConnectTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(deadline), 10*time.Millisecond)
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            o.Endpoints,
		DialTimeout:          timeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Username:             o.Username,
		Password:             o.Password,
		TLS:                  tlsCfg,
		Logger:               zap.NewNop(),
		// gRPC's default reconnection back-off grows to two minutes; a
		// registry whose etcd came back must be usable again within a
		// heartbeat.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxReconnectDelay},
			MinConnectTimeout: 5 * time.Second,
		})},
	})
	if err != nil {
		if isAuthError(err) {
			return nil, &multiError{
				msg:  fmt.Sprintf("etcd registry: connect to etcd at %s: %s: %s", r.where(), ErrAuth, authHint(err, o.Username)),
				errs: []error{ErrAuth, err},
			}
		}
		return nil, unreachable("connect", r.where(), err)
	}
	r.client = client
	if err := r.waitReady(ctx, tlsCfg); err != nil {
		client.Close()
		return nil, err
	}
	return r, nil
}

// probe returns nil when at least one endpoint accepts a connection, else the
// first endpoint's error.
func probe(ctx context.Context, endpoints []string) error {
	errs := make(chan error, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			network, addr := "tcp", ep
			if scheme, rest, ok := strings.Cut(ep, "://"); ok {
				addr = rest
				if scheme == "unix" || scheme == "unixs" {
					network = "unix"
				}
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				conn.Close()
			}
			errs <- err
		}()
	}
	var first error
	for range endpoints {
		if err := <-errs; err == nil {
			return nil
		} else if first == nil {
			first = err
		}
	}
	return first
}

// waitReady waits until the client's connection is up. When every member
// fails, it finds out why with a handshake of its own, so that a TLS
// mismatch is reported at once and by name rather than as a timeout.
func (r *Registry) waitReady(ctx context.Context, tlsCfg *tls.Config) error {
	cc := r.client.ActiveConnection()
	cc.Connect()
	for {
		state := cc.GetState()
		switch state {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			if err := handshakeAll(ctx, r.endpoints, tlsCfg); err != nil {
				return &multiError{
					msg:  fmt.Sprintf("etcd registry: connect: TLS with etcd at %s failed: %v", r.where(), err),
					errs: []error{registry.ErrUnreachable, err},
				}
			}
		case connectivity.Shutdown:
			return unreachable("connect", r.where(), errors.New("the connection was closed"))
		}
		if !cc.WaitForStateChange(ctx, state) {
			return unreachable("connect", r.where(), ctx.Err())
		}
	}
}

// handshakeAll returns nil when at least one TLS endpoint completes a TLS
// handshake with tlsCfg that the server does not then refuse, or when no
// endpoint uses TLS; else the first endpoint's error.
func handshakeAll(ctx context.Context, endpoints []string, tlsCfg *tls.Config) error {
	var first error
	for _, ep := range endpoints {
		addr, useTLS := ep, tlsCfg != nil
		if scheme, rest, ok := strings.Cut(ep, "://"); ok {
			addr, useTLS = rest, scheme == "https" || (tlsCfg != nil && scheme != "http")
			if scheme == "unix" || scheme == "unixs" {
				return nil // nothing to learn by hand
			}
		}
		if !useTLS {
			return nil
		}
		err := handshake(ctx, addr, tlsCfg)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func handshake(ctx context.Context, addr string, base *tls.Config) error {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		cfg = base.Clone()
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	dialCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(dialCtx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// With TLS 1.3 a server that refuses the client's certificate says so
	// after the handshake: read a moment for its alert.
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var buf [1]byte
	if _, err := conn.Read(buf[:]); err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return nil
		}
		return err
	}
	return nil
}

// String implements registry.Registry: "etcd at 127.0.0.1:2379".
func (r *Registry) String() string { return "etcd at " + r.where() }

func (r *Registry) where() string { return strings.Join(r.endpoints, ",") }

// Client is the etcd client the registry uses, for what this package does
// not cover.
func (r *Registry) Client() *clientv3.Client { return r.client }

// Close stops every watch and closes the connection. Registered nodes stay
// until their leases expire or they are deregistered. It is safe to call
// more than once.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	watchers := make([]*watcher, 0, len(r.watchers))
	for w := range r.watchers {
		watchers = append(watchers, w)
	}
	r.mu.Unlock()
	for _, w := range watchers {
		w.Stop()
	}
	return r.client.Close()
}

func (r *Registry) ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("etcd registry: %s is closed", r)
	}
	return nil
}

// key is where micro keeps one node.
func (r *Registry) key(service, nodeID string) string {
	return r.prefix + escape(service) + "/" + escape(nodeID)
}

// Register implements registry.Registry. Each node is one key holding its
// single-node record, attached to a lease of the TTL (rounded up to whole
// seconds; etcd may raise it to its minimum). Registering a node again with
// the same record keeps the lease alive, and puts the key back if someone
// removed it; a changed record, or a lease etcd no longer has (expired, or
// an etcd that lost its data), is registered in full with a new lease. With
// registry.NoExpiry the key has no lease and stays until deregistered.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	if err := registry.Validate(svc); err != nil {
		return fmt.Errorf("etcd registry: %w", err)
	}
	if err := r.ready(); err != nil {
		return err
	}
	o := registry.NewRegisterOptions(opts...)
	var ttl int64
	if !o.NoExpiry {
		ttl = max(1, int64(math.Ceil(o.TTL.Seconds())))
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	for _, node := range svc.Nodes {
		if err := r.registerNode(ctx, svc, node, ttl); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) registerNode(ctx context.Context, svc *registry.Service, node *registry.Node, ttl int64) error {
	record := registry.WithNode(svc, node)
	stored := record.Nodes[0]
	delete(stored.Metadata, MetadataLayout)
	stored.Health = ""
	data, err := json.Marshal(record)
	if err != nil {
		return fmt.Errorf("etcd registry: register %s node %s: %w", svc.Name, node.ID, err)
	}
	key, value := r.key(svc.Name, node.ID), string(data)

	r.mu.Lock()
	prev, known := r.leases[key]
	r.mu.Unlock()
	if known && ttl > 0 && prev.ttl == ttl && prev.value == value && prev.id != clientv3.NoLease {
		err := r.heartbeat(ctx, key, value, prev.id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return r.wrapError(ctx, fmt.Sprintf("heartbeat %s node %s", svc.Name, node.ID), err)
		}
		// The lease is gone: etcd lost its data, or the TTL passed
		// before this heartbeat. Register in full.
	}

	var putOpts []clientv3.OpOption
	lease := clientv3.NoLease
	if ttl > 0 {
		grant, err := r.client.Grant(ctx, ttl)
		if err != nil {
			return r.wrapError(ctx, fmt.Sprintf("register %s node %s: grant a lease of %ds", svc.Name, node.ID, ttl), err)
		}
		lease = grant.ID
		putOpts = append(putOpts, clientv3.WithLease(lease))
	}
	if _, err := r.client.Put(ctx, key, value, putOpts...); err != nil {
		r.forget(key)
		return r.wrapError(ctx, fmt.Sprintf("register %s node %s", svc.Name, node.ID), err)
	}
	r.mu.Lock()
	r.leases[key] = leaseEntry{id: lease, ttl: ttl, value: value}
	r.mu.Unlock()
	if known && prev.id != clientv3.NoLease && prev.id != lease {
		// The key moved to the new lease; the old one holds nothing now.
		_, _ = r.client.Revoke(ctx, prev.id)
	}
	return nil
}

// heartbeat keeps lease alive and makes sure key still holds value under
// it, writing it again when someone removed or changed it.
func (r *Registry) heartbeat(ctx context.Context, key, value string, lease clientv3.LeaseID) error {
	if _, err := r.client.KeepAliveOnce(ctx, lease); err != nil {
		return err
	}
	_, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", value), clientv3.Compare(clientv3.LeaseValue(key), "=", lease)).
		Else(clientv3.OpPut(key, value, clientv3.WithLease(lease))).
		Commit()
	return err
}

func (r *Registry) forget(key string) {
	r.mu.Lock()
	delete(r.leases, key)
	r.mu.Unlock()
}

// Deregister implements registry.Registry: it deletes micro's key of every
// node of svc and revokes its lease. Records of other layouts are left to
// the programs that wrote them.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return fmt.Errorf("etcd registry: %w: the service has no name", registry.ErrInvalid)
	}
	if err := r.ready(); err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	for _, node := range svc.Nodes {
		if node == nil || node.ID == "" {
			return fmt.Errorf("etcd registry: %w: service %q has a node without id", registry.ErrInvalid, svc.Name)
		}
		key := r.key(svc.Name, node.ID)
		r.mu.Lock()
		prev, known := r.leases[key]
		delete(r.leases, key)
		r.mu.Unlock()
		if _, err := r.client.Delete(ctx, key); err != nil {
			return r.wrapError(ctx, fmt.Sprintf("deregister %s node %s", svc.Name, node.ID), err)
		}
		if known && prev.id != clientv3.NoLease {
			_, _ = r.client.Revoke(ctx, prev.id)
		}
	}
	return nil
}

// GetService implements registry.Registry. Every node read is passing: etcd
// removes a node whose lease expired.
func (r *Registry) GetService(ctx context.Context, name string, _ ...registry.GetOption) ([]*registry.Service, error) {
	if name == "" {
		return nil, fmt.Errorf("etcd registry: %w: empty service name", registry.ErrNotFound)
	}
	if err := r.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	state, _, err := r.snapshot(ctx, r.serviceRanges(name), name)
	if err != nil {
		return nil, r.wrapError(ctx, fmt.Sprintf("get service %q", name), err)
	}
	records := flatten(state)
	if len(records) == 0 {
		return nil, fmt.Errorf("etcd registry: %w: %q in %s", registry.ErrNotFound, name, r)
	}
	return registry.Group(records), nil
}

// ListServices implements registry.Registry: every service of every layout
// read.
func (r *Registry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	if err := r.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	state, _, err := r.snapshot(ctx, r.allRanges(), "")
	if err != nil {
		return nil, r.wrapError(ctx, "list services", err)
	}
	return registry.Group(flatten(state)), nil
}

// keyRange is one prefix to read, or every key when all is set.
type keyRange struct {
	prefix string
	all    bool
}

func (k keyRange) key() string {
	if k.all {
		return ""
	}
	return k.prefix
}

// allRanges are the prefixes that hold every layout read. Reading go-zero's
// records without a list of keys means reading every key.
func (r *Registry) allRanges() []keyRange {
	if r.dec.reads(LayoutGoZero) && len(r.dec.goZeroKeys) == 0 {
		return []keyRange{{all: true}}
	}
	var out []keyRange
	for _, l := range r.dec.layouts {
		switch l {
		case LayoutMicro:
			out = append(out, keyRange{prefix: r.prefix})
		case LayoutGoMicro:
			out = append(out, keyRange{prefix: GoMicroPrefix})
		case LayoutKratos:
			out = append(out, keyRange{prefix: KratosPrefix})
		case LayoutGoZero:
			for _, k := range r.dec.goZeroKeys {
				out = append(out, keyRange{prefix: k + "/"})
			}
		}
	}
	return out
}

// serviceRanges are the prefixes that hold the records of one service.
func (r *Registry) serviceRanges(name string) []keyRange {
	var out []keyRange
	for _, l := range r.dec.layouts {
		switch l {
		case LayoutMicro:
			out = append(out, keyRange{prefix: r.prefix + escape(name) + "/"})
		case LayoutGoMicro:
			// go-micro replaces the slashes of a name with dashes in keys.
			out = append(out, keyRange{prefix: GoMicroPrefix + strings.ReplaceAll(name, "/", "-") + "/"})
		case LayoutKratos:
			out = append(out, keyRange{prefix: KratosPrefix + name + "/"})
		case LayoutGoZero:
			if len(r.dec.goZeroKeys) == 0 || slices.Contains(r.dec.goZeroKeys, name) {
				out = append(out, keyRange{prefix: name + "/"})
			}
		}
	}
	return out
}

// snapshot reads ranges at one revision and returns the records found by
// key, only those of service when it is not empty, and where in etcd's
// history it read them.
func (r *Registry) snapshot(ctx context.Context, ranges []keyRange, service string) (map[string][]*registry.Service, position, error) {
	ops := make([]clientv3.Op, 0, len(ranges))
	for _, rg := range ranges {
		ops = append(ops, clientv3.OpGet(rg.key(), clientv3.WithPrefix()))
	}
	resp, err := r.client.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, position{}, err
	}
	state := map[string][]*registry.Service{}
	for _, op := range resp.Responses {
		for _, kv := range op.GetResponseRange().GetKvs() {
			key := string(kv.Key)
			if _, seen := state[key]; seen {
				continue
			}
			if records := r.decode(key, kv.Value, kv.ModRevision, service); len(records) > 0 {
				state[key] = records
			}
		}
	}
	return state, position{clusterID: resp.Header.ClusterId, revision: resp.Header.Revision}, nil
}

// decode reads one key, reports it once when it cannot be read, and keeps
// only the records of service when it is not empty.
func (r *Registry) decode(key string, value []byte, modRevision int64, service string) []*registry.Service {
	records, err := r.dec.decode(key, value)
	if err != nil {
		r.report(key, modRevision, err)
		return nil
	}
	r.mu.Lock()
	delete(r.reported, key)
	r.mu.Unlock()
	if service == "" {
		return records
	}
	return slices.DeleteFunc(records, func(s *registry.Service) bool { return s.Name != service })
}

// report gives err to onError unless this version of key was reported.
func (r *Registry) report(key string, modRevision int64, err error) {
	r.mu.Lock()
	if prev, ok := r.reported[key]; ok && prev == modRevision {
		r.mu.Unlock()
		return
	}
	r.reported[key] = modRevision
	fn := r.onError
	r.mu.Unlock()
	if fn != nil {
		fn(err)
	}
}

// flatten returns the records of state in key order.
func flatten(state map[string][]*registry.Service) []*registry.Service {
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []*registry.Service
	for _, k := range keys {
		out = append(out, state[k]...)
	}
	return out
}

// withDefaultTimeout bounds ctx by defaultRequestTimeout when it has no
// deadline: the etcd client waits for a connection otherwise.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultRequestTimeout)
}
