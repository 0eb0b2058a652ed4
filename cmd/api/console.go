package api

import (
	"context"
	"fmt"
	"io"

	grpctransport "github.com/microtools/micro/pkg/transport/grpc"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/cmd/version"
	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
)

var (
	_ api.StreamInvoker = gatewayClient{}
	_ api.HealthChecker = gatewayClient{}
)

// InvokeStream calls method with the requests of requests (client and bidi
// streams from the console) and tells node each node tried.
func (a gatewayClient) InvokeStream(ctx context.Context, service string, method protoreflect.MethodDescriptor, requests call.RequestSupplier, md metadata.MD, h api.ResponseHandler, node func(string)) error {
	handler := call.HandlerFuncs{
		ReceiveHeaders: func(m metadata.MD) {
			if h.Header != nil {
				h.Header(m)
			}
		},
		Response: func(m proto.Message) error {
			if h.Message != nil {
				return h.Message(m)
			}
			return nil
		},
		Trailers: func(_ *status.Status, m metadata.MD) {
			if h.Trailer != nil {
				h.Trailer(m)
			}
		},
	}
	trace := &call.ClientTrace{NodeSelected: func(n *registry.Node, _ string) {
		if node != nil {
			node(n.Address)
		}
	}}
	return a.client.Call(ctx, service, call.FullMethodName(method), requests, handler, call.WithHeaders(md), call.WithTrace(trace))
}

// CheckHealth asks the node at address for the server's grpc.health.v1
// status.
func (a gatewayClient) CheckHealth(ctx context.Context, address string) (string, error) {
	conn, err := grpctransport.Dial(ctx, address, grpctransport.DialOptions{})
	if err != nil {
		return "UNREACHABLE", err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	switch status.Code(err) {
	case codes.OK:
		return resp.GetStatus().String(), nil
	case codes.Unimplemented:
		return "UNIMPLEMENTED", fmt.Errorf("%s does not serve grpc.health.v1", address)
	case codes.Unavailable:
		return "UNREACHABLE", fmt.Errorf("%s: %s", address, status.Convert(err).Message())
	default:
		return "ERROR", fmt.Errorf("%s: %s", address, status.Convert(err).Message())
	}
}

// mountConsole serves the web console at /ui/ on gw, with the topics page
// when the broker can be had (a warning on errOut when not).
func mountConsole(ctx context.Context, gw *api.Gateway, opts *Options, errOut io.Writer) error {
	copts := api.ConsoleOptions{Version: version.Version}
	if opts.Broker != nil {
		b, err := opts.Broker(ctx)
		if err != nil {
			fmt.Fprintf(errOut, "micro api: the console's topics page is off: %v\n", err)
		} else {
			copts.Broker, copts.BrokerName = b, describeBroker(b)
		}
	}
	return gw.MountConsole(copts)
}

func describeBroker(b broker.Broker) string {
	if s, ok := b.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", b)
}
