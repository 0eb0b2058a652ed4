package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
)

// Endpoint metadata keys that pkg/service writes in the registry.
const (
	endpointServiceKey = "service" // the full gRPC service name
	endpointStreamKey  = "stream"  // unary, server, client or bidi
)

// serviceIndex keeps what the gateway knows of each registered service:
// its records, its descriptors and the methods resolved, dropped whenever
// the registry watch says the service changed, and after DescriptorTTL in
// any case.
type serviceIndex struct {
	g   *Gateway
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]*serviceEntry
	list    []*registry.Service // ListServices, cached
	listAt  time.Time
	// servedBy caches serving by gRPC service name, for names that some
	// registered service serves (so that it holds registered names only);
	// dropped with the list.
	servedBy map[string][]string
	// gen counts the times what is known was dropped, so that a result
	// computed across a drop is not cached.
	gen uint64
}

type serviceEntry struct {
	mu sync.Mutex

	records   []*registry.Service
	recordErr error
	recordAt  time.Time

	described   bool
	descriptors []protoreflect.ServiceDescriptor
	describeErr error
	describedAt time.Time

	methods map[string]resolvedMethod
}

// resolvedMethod is a method found for an endpoint, with the endpoint
// name the access log and the metrics give it ("Greeter.Hello").
type resolvedMethod struct {
	md       protoreflect.MethodDescriptor
	endpoint string
	// parseJSON reads a JSON request of md (call.NewJSONParser).
	parseJSON func(data []byte, msg proto.Message) error
}

func newServiceIndex(g *Gateway) *serviceIndex {
	return &serviceIndex{g: g, ttl: g.opts.DescriptorTTL, entries: map[string]*serviceEntry{}}
}

func (x *serviceIndex) entry(name string) *serviceEntry {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.entries[name]
	if e == nil {
		e = &serviceEntry{methods: map[string]resolvedMethod{}}
		x.entries[name] = e
	}
	return e
}

// forget drops what is known of name (all services when name is "").
func (x *serviceIndex) forget(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.list, x.servedBy = nil, nil
	x.gen++
	if name == "" {
		x.entries = map[string]*serviceEntry{}
		return
	}
	delete(x.entries, name)
}

// records returns the registry records of name; a service not in the
// registry is NotFound.
func (x *serviceIndex) records(ctx context.Context, name string) ([]*registry.Service, error) {
	e := x.entry(name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.recordAt.IsZero() || time.Since(e.recordAt) > x.ttl || e.recordErr != nil {
		e.records, e.recordErr = x.g.opts.Registry.GetService(ctx, name)
		e.recordAt = time.Now()
	}
	if errors.Is(e.recordErr, registry.ErrNotFound) || (e.recordErr == nil && len(e.records) == 0) {
		return nil, errorf(codes.NotFound, "service %q is not in the registry (%s); GET / lists the services", name, x.g.opts.Registry)
	}
	return e.records, e.recordErr
}

// describe returns the gRPC services that name serves.
func (x *serviceIndex) describe(ctx context.Context, name string) ([]protoreflect.ServiceDescriptor, error) {
	e := x.entry(name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.described || time.Since(e.describedAt) > x.ttl || (e.describeErr != nil && !errors.Is(e.describeErr, ErrNoDescriptors)) {
		e.descriptors, e.describeErr = x.g.opts.Client.Describe(ctx, name)
		e.described, e.describedAt = true, time.Now()
	}
	return e.descriptors, e.describeErr
}

// method resolves endpoint of name, once per endpoint.
func (x *serviceIndex) method(ctx context.Context, name, endpoint string) (resolvedMethod, error) {
	e := x.entry(name)
	e.mu.Lock()
	m, ok := e.methods[endpoint]
	e.mu.Unlock()
	if ok {
		return m, nil
	}
	md, err := x.g.opts.Client.FindMethod(ctx, name, endpoint)
	if err != nil {
		return resolvedMethod{}, err
	}
	m = resolvedMethod{md: md, endpoint: string(md.Parent().Name()) + "." + string(md.Name()),
		parseJSON: call.NewJSONParser(md.Input(), x.g.resolverFor(name))}
	e.mu.Lock()
	e.methods[endpoint] = m
	e.mu.Unlock()
	return m, nil
}

// listServices returns every registered service, cached like the rest.
func (x *serviceIndex) listServices(ctx context.Context) ([]*registry.Service, error) {
	x.mu.Lock()
	list, at := x.list, x.listAt
	x.mu.Unlock()
	if list != nil && time.Since(at) <= x.ttl {
		return list, nil
	}
	list, err := x.g.opts.Registry.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Name != list[j].Name {
			return list[i].Name < list[j].Name
		}
		return list[i].Version < list[j].Version
	})
	x.mu.Lock()
	x.list, x.listAt, x.servedBy = list, time.Now(), nil
	x.gen++
	x.mu.Unlock()
	return list, nil
}

// serving returns the names of the registered services that serve the gRPC
// service fullName: by the registry's endpoint records where they name it,
// else by asking each service's descriptors.
//
// The answer is kept, while the list is, when it names a service and every
// service asked for its descriptors answered.
func (x *serviceIndex) serving(ctx context.Context, fullName string) ([]string, error) {
	x.mu.Lock()
	names, cached := x.servedBy[fullName]
	if cached && x.list != nil && time.Since(x.listAt) <= x.ttl {
		x.mu.Unlock()
		return names, nil
	}
	x.mu.Unlock()
	list, err := x.listServices(ctx)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	gen := x.gen
	x.mu.Unlock()
	names, conclusive := x.servingIn(ctx, list, fullName)
	if len(names) > 0 && conclusive {
		x.mu.Lock()
		if x.gen == gen && x.list != nil {
			if x.servedBy == nil {
				x.servedBy = map[string][]string{}
			}
			x.servedBy[fullName] = names
		}
		x.mu.Unlock()
	}
	return names, nil
}

// servingIn is serving over list; conclusive is false when a service's
// descriptors could not be had for a reason that may pass.
func (x *serviceIndex) servingIn(ctx context.Context, list []*registry.Service, fullName string) (names []string, conclusive bool) {
	conclusive = true
	var unknown []string
	for _, svc := range list {
		if slices.Contains(names, svc.Name) {
			continue
		}
		named := false
		for _, ep := range svc.Endpoints {
			if s := ep.Metadata[endpointServiceKey]; s != "" {
				named = true
				if s == fullName {
					names = append(names, svc.Name)
					break
				}
			}
		}
		if !named && !slices.Contains(unknown, svc.Name) && !isMucp(svc) {
			unknown = append(unknown, svc.Name)
		}
	}
	if len(names) > 0 {
		return names, true
	}
	for _, name := range unknown {
		sds, err := x.describe(ctx, name)
		if err != nil {
			if !errors.Is(err, ErrNoDescriptors) {
				conclusive = false
			}
			continue
		}
		for _, sd := range sds {
			if string(sd.FullName()) == fullName {
				names = append(names, name)
				break
			}
		}
	}
	return names, conclusive
}

// isMucp tells whether every node of svc speaks go-micro's mucp.
func isMucp(svc *registry.Service) bool {
	if len(svc.Nodes) == 0 {
		return false
	}
	for _, n := range svc.Nodes {
		if n.Metadata["protocol"] != "mucp" {
			return false
		}
	}
	return true
}

func allMucp(records []*registry.Service) bool {
	for _, r := range records {
		if !isMucp(r) {
			return false
		}
	}
	return len(records) > 0
}

// watch follows the registry: every event drops what was known of its
// service and is passed to the /events streams. A watch that fails is
// started again after a pause, and everything known is dropped then.
func (g *Gateway) watch(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		w, err := g.opts.Registry.Watch(ctx)
		if err == nil {
			backoff = 100 * time.Millisecond
			g.services.forget("")
			for {
				ev, err := w.Next()
				if err != nil {
					break
				}
				if ev.Service != nil {
					g.services.forget(ev.Service.Name)
				}
				g.events.publish(ev)
			}
			w.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// target is what a request calls.
type target struct {
	service string
	// method is set for a gRPC method; endpoint alone for a call by
	// registry record (mucp).
	method   protoreflect.MethodDescriptor
	endpoint string
	// parseJSON reads a JSON request of method; nil: call.ParseJSON.
	parseJSON func(data []byte, msg proto.Message) error
}

// resolvePlain finds the target of a go-micro route.
func (g *Gateway) resolvePlain(ctx context.Context, service, endpoint string) (target, error) {
	records, err := g.services.records(ctx, service)
	if err != nil {
		return target{}, err
	}
	if allMucp(records) {
		return g.endpointTarget(service, endpoint, records)
	}
	m, err := g.services.method(ctx, service, endpoint)
	if errors.Is(err, ErrNoDescriptors) {
		return g.endpointTarget(service, endpoint, records)
	}
	if err != nil {
		return target{}, err
	}
	return target{service: service, method: m.md, endpoint: endpoint, parseJSON: m.parseJSON}, nil
}

// endpointTarget is a call of a service known only from its records.
func (g *Gateway) endpointTarget(service, endpoint string, records []*registry.Service) (target, error) {
	if _, ok := g.opts.Client.(EndpointCaller); !ok {
		return target{}, errorf(codes.Unimplemented, "service %q has no descriptors (its server has no reflection, or it is a go-micro mucp service) and this gateway's client cannot call by registry record: enable reflection on the service", service)
	}
	var names []string
	for _, r := range records {
		for _, ep := range r.Endpoints {
			if ep.Name == endpoint {
				return target{service: service, endpoint: endpoint}, nil
			}
			names = append(names, ep.Name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return target{}, errorf(codes.NotFound, "service %q has no endpoint %q; it has %s", service, endpoint, strings.Join(names, ", "))
}

// resolveGRPC finds the target of a Connect or gRPC-Web route,
// /{package.Service}/{Method}: the registered service that serves
// package.Service, or the one the Micro-Service header names.
func (g *Gateway) resolveGRPC(ctx context.Context, fullService, method, chosen string) (target, error) {
	service := chosen
	if service == "" {
		names, err := g.services.serving(ctx, fullService)
		if err != nil {
			return target{}, err
		}
		switch len(names) {
		case 0:
			return target{}, errorf(codes.NotFound, "no registered service serves the gRPC service %s (Connect and gRPC-Web name it in full: /greeter.v1.Greeter/Hello; go-micro routes are POST /{service}/{Service.Method}); GET / lists the services", fullService)
		case 1:
			service = names[0]
		default:
			return target{}, errorf(codes.InvalidArgument, "%s is served by %d registered services (%s): name one in the Micro-Service header", fullService, len(names), strings.Join(names, ", "))
		}
	} else if _, err := g.services.records(ctx, service); err != nil {
		return target{}, err
	}
	m, err := g.services.method(ctx, service, fullService+"/"+method)
	if err != nil {
		if errors.Is(err, call.ErrServiceNotFound) && chosen != "" {
			return target{}, fmt.Errorf("Micro-Service %q: %w", chosen, err)
		}
		return target{}, err
	}
	return target{service: service, method: m.md, endpoint: m.endpoint, parseJSON: m.parseJSON}, nil
}
