package consul

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Registry = (*Registry)(nil)

// minDeregisterAfter is Consul's minimum for DeregisterCriticalServiceAfter.
const minDeregisterAfter = time.Minute

// listConcurrency bounds the health queries ListServices runs at once.
const listConcurrency = 8

// consulServiceName is Consul's own service, left out of ListServices.
const consulServiceName = "consul"

// Registry is a registry.Registry that keeps nodes as service instances on a
// Consul agent. It is safe for concurrent use. The zero value is not usable;
// use New.
type Registry struct {
	client  *api.Client
	address string // as shown in messages: "127.0.0.1:8500"
	// hasToken is set when requests carry an ACL token; without one Consul
	// uses its anonymous token.
	hasToken bool

	mu sync.Mutex
	// registered holds, per node ID, a hash of what the last full
	// registration wrote. A Register with the same hash only refreshes the
	// TTL check.
	registered map[string][sha256.Size]byte
}

// New returns a registry that talks to the Consul agent the options name
// (DefaultAddress when none). It does not contact the agent: an agent that
// cannot be reached shows as errors wrapping registry.ErrUnreachable from
// the methods.
func New(opts ...Option) (*Registry, error) {
	var o Options
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	agents, err := o.splitAgents()
	if err != nil {
		return nil, err
	}
	cfg, address, err := o.clientConfig()
	if err != nil {
		return nil, err
	}
	hasToken := cfg.Token != ""
	if pinned, ok := pinnedOf(cfg); ok {
		hasToken = pinned.token != ""
	}
	if len(agents) > 1 {
		address = strings.Join(agents, ",")
		withFailover(cfg, agents, o.OnFailover)
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul registry: client for consul at %s: %w", address, err)
	}
	return &Registry{
		client:     client,
		address:    address,
		hasToken:   hasToken,
		registered: map[string][sha256.Size]byte{},
	}, nil
}

// String implements registry.Registry: "consul at 127.0.0.1:8500".
func (r *Registry) String() string { return "consul at " + r.address }

// Client is the Consul API client the registry uses, for what this package
// does not cover. Its requests carry the token, namespace and partition of
// the options (the token in its own configuration is a placeholder unless
// Options.Config brought an HTTP client).
func (r *Registry) Client() *api.Client { return r.client }

// Register implements registry.Registry. Each node becomes one Consul service
// instance with a TTL check of the given TTL, passing at once. Registering a
// node again with the same record only marks its check passing (the
// heartbeat); a changed record, or a node the agent no longer knows, is
// registered in full. With registry.NoExpiry the instance has no check, stays
// until deregistered, and every Register writes it in full.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	if err := registry.Validate(svc); err != nil {
		return fmt.Errorf("consul registry: %w", err)
	}
	o := registry.NewRegisterOptions(opts...)
	ttl := o.TTL
	if o.NoExpiry {
		ttl = 0
	}
	for _, node := range svc.Nodes {
		if err := r.registerNode(ctx, svc, node, ttl); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) registerNode(ctx context.Context, svc *registry.Service, node *registry.Node, ttl time.Duration) error {
	record := registry.WithNode(svc, node)
	sum, err := recordHash(record, ttl)
	if err != nil {
		return fmt.Errorf("consul registry: register %s node %s: %w", svc.Name, node.ID, err)
	}
	checkID := checkIDFor(node.ID)

	r.mu.Lock()
	prev, known := r.registered[node.ID]
	r.mu.Unlock()
	if known && prev == sum && ttl > 0 {
		err := r.client.Agent().UpdateTTLOpts(checkID, "", api.HealthPassing, queryOptions(ctx))
		if err == nil {
			return nil
		}
		if isUnreachable(err) || ctx.Err() != nil {
			return r.wrapError(fmt.Sprintf("heartbeat %s node %s", svc.Name, node.ID), err)
		}
		// The agent no longer has the check (restarted with fresh state,
		// or someone removed the service): register in full.
	}

	reg, err := registration(record, ttl)
	if err != nil {
		return fmt.Errorf("consul registry: register %s node %s: %w", svc.Name, node.ID, err)
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.client.Agent().ServiceRegisterOpts(reg, opts); err != nil {
		r.forget(node.ID)
		return r.wrapError(fmt.Sprintf("register %s node %s", svc.Name, node.ID), err)
	}
	if ttl > 0 {
		// The agent keeps the status of a check it had already (a critical
		// one stays critical), so pass it explicitly.
		if err := r.client.Agent().UpdateTTLOpts(checkID, "", api.HealthPassing, queryOptions(ctx)); err != nil {
			r.forget(node.ID)
			return r.wrapError(fmt.Sprintf("heartbeat %s node %s", svc.Name, node.ID), err)
		}
	}
	r.mu.Lock()
	r.registered[node.ID] = sum
	r.mu.Unlock()
	return nil
}

// registration is the Consul service instance for a single-node record, with
// a TTL check unless ttl is 0 (registry.NoExpiry).
func registration(record *registry.Service, ttl time.Duration) (*api.AgentServiceRegistration, error) {
	node := record.Nodes[0]
	tags, err := encodeTags(record, node)
	if err != nil {
		return nil, err
	}
	host, port := splitAddress(node.Address)
	reg := &api.AgentServiceRegistration{
		ID:      node.ID,
		Name:    record.Name,
		Tags:    tags,
		Address: host,
		Port:    port,
		Meta:    encodeMeta(record, node),
	}
	if ttl > 0 {
		reg.Check = &api.AgentServiceCheck{
			CheckID:                        checkIDFor(node.ID),
			Name:                           "micro heartbeat",
			Notes:                          "passing while the node registers itself again within the TTL",
			TTL:                            ttl.String(),
			Status:                         api.HealthPassing,
			DeregisterCriticalServiceAfter: deregisterAfter(ttl).String(),
		}
	}
	return reg, nil
}

// checkIDFor is the ID of a node's TTL check; Consul names a service's only
// check this way too, and go-micro refreshes it under this name.
func checkIDFor(nodeID string) string { return "service:" + nodeID }

// deregisterAfter is how long Consul keeps a node whose check is critical:
// two TTLs, and never less than Consul's minimum of a minute.
func deregisterAfter(ttl time.Duration) time.Duration {
	return max(minDeregisterAfter, 2*ttl)
}

// recordHash identifies what a full registration writes.
func recordHash(record *registry.Service, ttl time.Duration) ([sha256.Size]byte, error) {
	data, err := json.Marshal(struct {
		Record *registry.Service
		TTL    time.Duration
	}{record, ttl})
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(data), nil
}

func (r *Registry) forget(nodeID string) {
	r.mu.Lock()
	delete(r.registered, nodeID)
	r.mu.Unlock()
}

// Deregister implements registry.Registry: it removes the service instance
// of every node of svc from the agent. Nodes the agent does not know are
// skipped.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return fmt.Errorf("consul registry: %w: the service has no name", registry.ErrInvalid)
	}
	for _, node := range svc.Nodes {
		if node == nil || node.ID == "" {
			return fmt.Errorf("consul registry: %w: service %q has a node without id", registry.ErrInvalid, svc.Name)
		}
		r.forget(node.ID)
		err := r.client.Agent().ServiceDeregisterOpts(node.ID, queryOptions(ctx))
		if err != nil && !isNotFound(err) {
			return r.wrapError(fmt.Sprintf("deregister %s node %s", svc.Name, node.ID), err)
		}
	}
	return nil
}

// GetService implements registry.Registry. It returns passing nodes only,
// and every node with registry.IncludeUnhealthy. When Consul's ACLs hid the
// nodes (or, for a request without a token to an agent whose default policy
// is deny, may have hidden them) the error wraps registry.ErrPermissionDenied
// instead of registry.ErrNotFound.
func (r *Registry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	o := registry.NewGetOptions(opts...)
	if name == "" {
		return nil, fmt.Errorf("consul registry: %w: empty service name", registry.ErrNotFound)
	}
	op := fmt.Sprintf("get service %q", name)
	records, read, err := r.serviceRecords(ctx, name, !o.IncludeUnhealthy, 0)
	if err != nil {
		return nil, r.wrapError(op, err)
	}
	if len(records) == 0 && read.filtered {
		return nil, &aclError{op: op, address: r.address,
			reason: fmt.Sprintf("hid the nodes of %q from the token given (ACL filter): the token needs service:read on it and node:read on its nodes", name)}
	}
	if len(records) == 0 && read.defaultDeny && !r.hasToken {
		return nil, &aclError{op: op, address: r.address,
			reason: fmt.Sprintf("returned no node of %q to a request without an ACL token, and its ACL default policy is deny: the service may exist but be hidden", name)}
	}
	if len(records) == 0 {
		if o.IncludeUnhealthy {
			return nil, fmt.Errorf("consul registry: %w: %q in %s", registry.ErrNotFound, name, r)
		}
		return nil, fmt.Errorf("consul registry: %w: %q has no passing node in %s", registry.ErrNotFound, name, r)
	}
	return registry.Group(records), nil
}

// readMeta is what Consul said about an answer besides the data.
type readMeta struct {
	// index is the Consul index of the answer.
	index uint64
	// filtered is set when ACLs removed results the token may not read.
	// Consul does not say so to the anonymous token (requests without one).
	filtered bool
	// defaultDeny is set when the agent's ACL default policy is deny.
	defaultDeny bool
}

func newReadMeta(meta *api.QueryMeta) readMeta {
	if meta == nil {
		return readMeta{}
	}
	return readMeta{
		index:       meta.LastIndex,
		filtered:    meta.ResultsFilteredByACLs,
		defaultDeny: meta.DefaultACLPolicy == "deny",
	}
}

// serviceRecords returns the instances of one service as single-node
// records, and what Consul said of the answer. With waitIndex > 0 it is a
// blocking query that returns once the index passes waitIndex (or the
// agent's wait time ends).
func (r *Registry) serviceRecords(ctx context.Context, name string, passingOnly bool, waitIndex uint64) ([]*registry.Service, readMeta, error) {
	q := queryOptions(ctx)
	q.WaitIndex = waitIndex
	entries, meta, err := r.client.Health().Service(name, "", passingOnly, q)
	if err != nil {
		return nil, readMeta{}, err
	}
	records := make([]*registry.Service, 0, len(entries))
	for _, entry := range entries {
		if entry == nil || entry.Service == nil || entry.Service.Service != name {
			continue
		}
		records = append(records, serviceFromEntry(entry))
	}
	return records, newReadMeta(meta), nil
}

// ListServices implements registry.Registry: every service but Consul's own,
// with every node, healthy or not. When Consul's ACLs hid every service the
// error wraps registry.ErrPermissionDenied; when they hid only some, the
// services that could be read come with such an error.
func (r *Registry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	services, read, err := r.list(ctx, false)
	if err != nil {
		return nil, r.wrapError("list services", err)
	}
	if err := r.listHidden("list services", services, read); err != nil {
		return services, err
	}
	return services, nil
}

// listHidden is the error for a list that ACLs cut short, or nil; op says
// what was being done.
func (r *Registry) listHidden(op string, services []*registry.Service, read readMeta) error {
	switch {
	case !read.filtered:
		return nil
	case len(services) > 0:
		return &aclError{op: op, address: r.address,
			reason: "hid some services or nodes from the token (ACL filter); listing the ones it may read"}
	case r.hasToken:
		return &aclError{op: op, address: r.address,
			reason: "hid every service from the token given (ACL filter): the token needs service:read on the services and node:read on their nodes"}
	default:
		return &aclError{op: op, address: r.address,
			reason: "hides every service from requests without an ACL token (ACL default policy deny)"}
	}
}

// list returns every service grouped by version, with passing nodes only
// when passingOnly is set, and the catalog index of the service names.
// filtered is set in the answer's readMeta when ACLs hid any service or
// node, including to a request without a token: Consul's own service is in
// every catalog, so a catalog without it under a deny policy was filtered.
func (r *Registry) list(ctx context.Context, passingOnly bool) ([]*registry.Service, readMeta, error) {
	catalog, meta, err := r.client.Catalog().Services(queryOptions(ctx))
	if err != nil {
		return nil, readMeta{}, err
	}
	read := newReadMeta(meta)
	if _, ok := catalog[consulServiceName]; !ok && read.defaultDeny {
		read.filtered = true
	}
	var names []string
	for name := range catalog {
		if name != consulServiceName {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		records  []*registry.Service
		firstErr error
		slots    = make(chan struct{}, listConcurrency)
	)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			found, seen, err := r.serviceRecords(ctx, name, passingOnly, 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			if seen.filtered {
				read.filtered = true
			}
			records = append(records, found...)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, readMeta{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, readMeta{}, err
	}
	return registry.Group(records), read, nil
}

// queryOptions are the options of one request made under ctx. Reads are
// consistent with the leader (AllowStale off), so that a read right after a
// write sees it.
func queryOptions(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{}).WithContext(ctx)
}
