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

	grpctransport "github.com/microtools/micro/pkg/transport/grpc"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/mcp"
	"github.com/microtools/micro/pkg/registry"
	httptransport "github.com/microtools/micro/pkg/transport/http"
)

// clientCaller is an mcp.Caller over pkg/client, the client of `micro
// call`: gRPC nodes with its selector, connection pool, failover and
// descriptor cache, go-micro mucp nodes over HTTP with the JSON
// as it is.
type clientCaller struct {
	client   *client.Client
	registry registry.Registry
	dial     grpctransport.DialOptions
}

var _ mcp.Caller = (*clientCaller)(nil)

// isMucp tells whether a record's nodes speak go-micro's mucp, which has no
// reflection.
func isMucp(svc *registry.Service) bool {
	for _, n := range svc.Nodes {
		if client.KindOf(n) == client.KindMucp {
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
	if req.Protocol == string(client.KindMucp) {
		return c.callMucp(ctx, req, onResponse)
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

// callMucp sends the JSON of req as it is to a go-micro mucp endpoint
// ("Greeter.Hello", from the registry record), which answers one response.
func (c *clientCaller) callMucp(ctx context.Context, req *mcp.Request, onResponse func(json.RawMessage) error) error {
	if req.Kind != "" && req.Kind != mcp.KindUnary {
		return fmt.Errorf("%s %s: %s endpoints of go-micro mucp services cannot be called: micro speaks unary mucp only", req.Service, req.Endpoint, req.Kind)
	}
	resp, err := c.client.CallJSON(ctx, req.Service, req.Endpoint, req.Body, metadata.MD(req.Headers))
	if err != nil {
		return err
	}
	return onResponse(json.RawMessage(resp.Body))
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
func checkNode(ctx context.Context, n *registry.Node, dial grpctransport.DialOptions) mcp.NodeHealth {
	h := mcp.NodeHealth{Node: n.ID, Address: n.Address}
	conn, err := grpctransport.Dial(ctx, n.Address, dial)
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

// newCaller builds the client of the MCP server through the factory, over
// reg: reflection with the on-disk descriptor cache, the selector's watch
// (the server runs for long), the dial options of the flags. warn is told of cache write errors.
func newCaller(ctx context.Context, f *cmdutil.Factory, reg registry.Registry, dial grpctransport.DialOptions, reflectHeaders metadata.MD, cacheDir string, warn func(error)) (*clientCaller, error) {
	cl, err := f.Client(ctx, client.Options{
		Registry:          reg,
		Dial:              dial,
		ReflectionHeaders: reflectHeaders,
		CacheDir:          cacheDir,
		OnCacheWriteError: warn,
		HTTP:              httptransport.Options{ConnectTimeout: dial.ConnectTimeout},
	})
	if err != nil {
		return nil, err
	}
	return &clientCaller{client: cl, registry: reg, dial: dial}, nil
}

// Close releases the client's connections.
func (c *clientCaller) Close() error { return c.client.Close() }
