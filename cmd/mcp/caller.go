package mcp

// The one file that knows which client micro calls through: switching the
// MCP server to another client changes only this file.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/mcp"
	"github.com/microtools/micro/pkg/registry"
)

// clientCaller is an mcp.Caller over pkg/call's Client: the selector,
// connection pool, failover and descriptor cache of `micro call`.
type clientCaller struct {
	client   *call.Client
	registry registry.Registry
	dial     call.DialOptions
}

var _ mcp.Caller = (*clientCaller)(nil)

// isMucp tells whether a record's nodes speak go-micro's mucp, which has no
// reflection.
func isMucp(svc *registry.Service) bool {
	for _, n := range svc.Nodes {
		if n.Metadata["protocol"] == "mucp" || n.Metadata["transport"] == "http" {
			return true
		}
	}
	return false
}

func (c *clientCaller) Describe(ctx context.Context, svc *registry.Service) ([]protoreflect.ServiceDescriptor, error) {
	if isMucp(svc) {
		return nil, fmt.Errorf("%s is a mucp service: %w", svc.Name, mcp.ErrNoDescriptors)
	}
	src, err := c.client.Source(ctx, svc.Name)
	if err != nil {
		return nil, err
	}
	names, err := src.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	var out []protoreflect.ServiceDescriptor
	for _, name := range names {
		if strings.HasPrefix(name, "grpc.reflection.") || strings.HasPrefix(name, "grpc.health.") {
			continue
		}
		d, err := src.FindSymbol(ctx, name)
		if err != nil {
			return nil, err
		}
		if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
			out = append(out, sd)
		}
	}
	return out, nil
}

func (c *clientCaller) Call(ctx context.Context, req *mcp.Request, onResponse func(json.RawMessage) error) error {
	if req.Protocol == "mucp" {
		return fmt.Errorf("%s %s: calls to go-micro mucp services need the HTTP transport of pkg/client, which this build does not have yet", req.Service, req.Endpoint)
	}
	resolver := c.client.Resolver(req.Service)
	format := call.NewJSONFormatter(resolver, call.FormatOptions{})
	handler := call.HandlerFuncs{Response: func(msg proto.Message) error {
		data, err := format(msg)
		if err != nil {
			return err
		}
		return onResponse(data)
	}}
	values, err := req.Values()
	if err != nil {
		return err
	}
	supplier := call.NewJSONSupplier(values, resolver)
	return c.client.Call(ctx, req.Service, req.Endpoint, supplier, handler, call.WithHeaders(metadata.MD(req.Headers)))
}

func (c *clientCaller) CheckHealth(ctx context.Context, service string) ([]mcp.NodeHealth, error) {
	records, err := c.registry.GetService(ctx, service, registry.IncludeUnhealthy())
	if err != nil {
		return nil, err
	}
	var out []mcp.NodeHealth
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range records {
		for _, n := range r.Nodes {
			wg.Go(func() {
				h := checkNode(ctx, n, c.dial)
				h.Version = r.Version
				mu.Lock()
				out = append(out, h)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b mcp.NodeHealth) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// checkNode asks one node for its health.
func checkNode(ctx context.Context, n *registry.Node, dial call.DialOptions) mcp.NodeHealth {
	h := mcp.NodeHealth{Node: n.ID, Address: n.Address}
	conn, err := call.Dial(ctx, n.Address, dial)
	if err != nil {
		h.Status, h.Error = "UNREACHABLE", err.Error()
		return h
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	switch status.Code(err) {
	case codes.OK:
		h.Status = resp.GetStatus().String()
	case codes.Unimplemented:
		h.Status, h.Error = "UNIMPLEMENTED", "the node does not serve grpc.health.v1"
	case codes.Unavailable:
		h.Status, h.Error = "UNREACHABLE", status.Convert(err).Message()
	default:
		h.Status, h.Error = "ERROR", status.Convert(err).Message()
	}
	return h
}

// newCaller builds the client of the MCP server over reg: reflection with
// the on-disk descriptor cache, the selector's watch (the server runs for
// long), the dial options of the flags. warn is told of cache write errors.
func newCaller(reg registry.Registry, dial call.DialOptions, reflectHeaders metadata.MD, cacheDir string, warn func(error)) (*clientCaller, error) {
	client, err := call.NewClient(call.ClientOptions{
		Registry:          reg,
		Dial:              dial,
		ReflectionHeaders: reflectHeaders,
		CacheDir:          cacheDir,
		OnCacheWriteError: warn,
	})
	if err != nil {
		return nil, err
	}
	return &clientCaller{client: client, registry: reg, dial: dial}, nil
}

// Close releases the client's connections.
func (c *clientCaller) Close() error { return c.client.Close() }
