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
		registered: map[string][sha256.Size]byte{},
	}, nil
}

// String implements registry.Registry: "consul at 127.0.0.1:8500".
func (r *Registry) String() string { return "consul at " + r.address }

// Client is the Consul API client the registry uses, for what this package
// does not cover.
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
// and every node with registry.IncludeUnhealthy.
func (r *Registry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	o := registry.NewGetOptions(opts...)
	if name == "" {
		return nil, fmt.Errorf("consul registry: %w: empty service name", registry.ErrNotFound)
	}
	records, _, err := r.serviceRecords(ctx, name, !o.IncludeUnhealthy, 0)
	if err != nil {
		return nil, r.wrapError(fmt.Sprintf("get service %q", name), err)
	}
	if len(records) == 0 {
		if o.IncludeUnhealthy {
			return nil, fmt.Errorf("consul registry: %w: %q in %s", registry.ErrNotFound, name, r)
		}
		return nil, fmt.Errorf("consul registry: %w: %q has no passing node in %s", registry.ErrNotFound, name, r)
	}
	return registry.Group(records), nil
}

// serviceRecords returns the instances of one service as single-node
// records, and the Consul index of the answer. With waitIndex > 0 it is a
// blocking query that returns once the index passes waitIndex (or the
// agent's wait time ends).
func (r *Registry) serviceRecords(ctx context.Context, name string, passingOnly bool, waitIndex uint64) ([]*registry.Service, uint64, error) {
	q := queryOptions(ctx)
	q.WaitIndex = waitIndex
	entries, meta, err := r.client.Health().Service(name, "", passingOnly, q)
	if err != nil {
		return nil, 0, err
	}
	records := make([]*registry.Service, 0, len(entries))
	for _, entry := range entries {
		if entry == nil || entry.Service == nil || entry.Service.Service != name {
			continue
		}
		records = append(records, serviceFromEntry(entry))
	}
	return records, meta.LastIndex, nil
}

// ListServices implements registry.Registry: every service but Consul's own,
// with every node, healthy or not.
func (r *Registry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	services, _, err := r.list(ctx, false)
	if err != nil {
		return nil, r.wrapError("list services", err)
	}
	return services, nil
}

// list returns every service grouped by version, with passing nodes only
// when passingOnly is set, and the catalog index of the service names.
func (r *Registry) list(ctx context.Context, passingOnly bool) ([]*registry.Service, uint64, error) {
	catalog, meta, err := r.client.Catalog().Services(queryOptions(ctx))
	if err != nil {
		return nil, 0, err
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
			found, _, err := r.serviceRecords(ctx, name, passingOnly, 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			records = append(records, found...)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return registry.Group(records), meta.LastIndex, nil
}

// queryOptions are the options of one request made under ctx. Reads are
// consistent with the leader (AllowStale off), so that a read right after a
// write sees it.
func queryOptions(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{}).WithContext(ctx)
}
