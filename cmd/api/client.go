package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
)

// gatewayClient adapts pkg/client, the client that `micro call` uses, to
// the gateway's api.Client: gRPC nodes with its selector, connection pool,
// failover and descriptor cache, go-micro mucp nodes over HTTP with
// the JSON as it is (api.EndpointCaller). It is the only place that knows
// which client the gateway calls through: switching to another is a change
// of this file.
type gatewayClient struct {
	client *client.Client
}

var (
	_ api.Client         = gatewayClient{}
	_ api.EndpointCaller = gatewayClient{}
)

func (a gatewayClient) Describe(ctx context.Context, service string) ([]protoreflect.ServiceDescriptor, error) {
	src, err := a.client.Source(ctx, service)
	if err != nil {
		return nil, a.noDescriptors(ctx, service, err)
	}
	names, err := src.ListServices(ctx)
	if err != nil {
		return nil, a.noDescriptors(ctx, service, err)
	}
	var out []protoreflect.ServiceDescriptor
	for _, name := range names {
		if strings.HasPrefix(name, "grpc.reflection.") || strings.HasPrefix(name, "grpc.health.") {
			continue
		}
		d, err := src.FindSymbol(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("describe %s of %s: %w", name, service, err)
		}
		if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
			out = append(out, sd)
		}
	}
	return out, nil
}

func (a gatewayClient) FindMethod(ctx context.Context, service, endpoint string) (protoreflect.MethodDescriptor, error) {
	src, err := a.client.Source(ctx, service)
	if err != nil {
		return nil, a.noDescriptors(ctx, service, err)
	}
	return call.FindMethod(ctx, src, service, endpoint)
}

func (a gatewayClient) Invoke(ctx context.Context, service string, method protoreflect.MethodDescriptor, req proto.Message, md metadata.MD, h api.ResponseHandler) error {
	events := api.NewCallEvents(req, h)
	if len(md) == 0 {
		// No option to make and no metadata to join.
		return a.client.Call(ctx, service, call.FullMethodName(method), events.Supply, events)
	}
	return a.client.Call(ctx, service, call.FullMethodName(method), events.Supply, events, call.WithHeaders(md))
}

// CallEndpoint sends body, JSON as it is, to a go-micro mucp endpoint
// ("Greeter.Hello") known from the registry record.
func (a gatewayClient) CallEndpoint(ctx context.Context, service, endpoint string, body []byte, md metadata.MD) ([]byte, metadata.MD, error) {
	resp, err := a.client.CallJSON(ctx, service, endpoint, body, md)
	if err != nil {
		return nil, nil, err
	}
	return resp.Body, metadata.MD(resp.Header), nil
}

func (a gatewayClient) Resolver(service string) call.Resolver { return a.client.Resolver(service) }

// noDescriptors marks a service without reflection, or whose nodes speak
// go-micro's mucp, as api.ErrNoDescriptors.
func (a gatewayClient) noDescriptors(ctx context.Context, service string, err error) error {
	if errors.Is(err, call.ErrReflectionUnsupported) {
		return fmt.Errorf("%w: %w", api.ErrNoDescriptors, err)
	}
	if kind, kindErr := a.client.Kind(ctx, service); kindErr == nil && kind == client.KindMucp {
		return fmt.Errorf("%w: %s is a go-micro mucp service: %w", api.ErrNoDescriptors, service, err)
	}
	return err
}
