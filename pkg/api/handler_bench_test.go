package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// answeringClient is an api.Client that answers every call at once with
// one prebuilt response, without a network: it stands in for the call
// client only in BenchmarkGatewayOnly, which measures what the gateway
// itself costs a call (BenchmarkGateway has the real greeter).
type answeringClient struct {
	greeter  protoreflect.ServiceDescriptor
	src      call.DescriptorSource
	resolver call.Resolver
	reply    proto.Message
	header   metadata.MD
}

func newAnsweringClient(tb testing.TB) *answeringClient {
	tb.Helper()
	sd := greeterpb.File_greeter_proto.Services().ByName("Greeter")
	src, err := call.NewDescriptorSetSource(call.DescriptorSetOf(sd.ParentFile()), "greeter")
	if err != nil {
		tb.Fatal(err)
	}
	reply := dynamicpb.NewMessage(sd.Methods().ByName("Hello").Output())
	reply.Set(reply.Descriptor().Fields().ByName("message"), protoreflect.ValueOfString("Hello, Ada"))
	return &answeringClient{greeter: sd, src: src, resolver: call.NewResolver(context.Background(), src),
		reply: reply, header: metadata.MD{"content-type": {"application/grpc"}}}
}

func (c *answeringClient) Describe(context.Context, string) ([]protoreflect.ServiceDescriptor, error) {
	return []protoreflect.ServiceDescriptor{c.greeter}, nil
}

func (c *answeringClient) FindMethod(ctx context.Context, service, endpoint string) (protoreflect.MethodDescriptor, error) {
	return call.FindMethod(ctx, c.src, service, endpoint)
}

func (c *answeringClient) Invoke(_ context.Context, _ string, _ protoreflect.MethodDescriptor, _ proto.Message, _ metadata.MD, h api.ResponseHandler) error {
	if h.Header != nil {
		h.Header(c.header)
	}
	if err := h.Message(c.reply); err != nil {
		return err
	}
	if h.Trailer != nil {
		h.Trailer(nil)
	}
	return nil
}

func (c *answeringClient) Resolver(string) call.Resolver { return c.resolver }

// BenchmarkGatewayOnly is the gateway's own work for one unary call, one
// at a time, with a client that answers at once (answeringClient): routing,
// the time limit, the body, JSON both ways, metadata, the response, the
// metrics and the access log (as micro api writes it, to io.Discard). Its
// ns/op and allocs/op move with the gateway's code only, not with gRPC or
// the load of the machine as much as BenchmarkGateway's do.
func BenchmarkGatewayOnly(b *testing.B) {
	reg := memory.New()
	b.Cleanup(func() { reg.Close() })
	err := reg.Register(b.Context(), &registry.Service{Name: "greeter", Version: "1.0.0",
		Nodes: []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:1", Metadata: map[string]string{"protocol": "grpc"}}}})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := api.New(api.Options{Registry: reg, Client: newAnsweringClient(b), Logger: benchAccessLog(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gw.Close() })
	body := []byte(`{"name":"Ada"}`)
	for _, bc := range gatewayRoutes {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, bc.path, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Content-Type", "application/json")
			for k, v := range bc.headers {
				req.Header.Set(k, v)
			}
			w := &discardResponse{header: http.Header{}}
			reader := bytes.NewReader(body)
			b.ReportAllocs()
			for b.Loop() {
				reader.Reset(body)
				req.Body = io.NopCloser(reader)
				w.reset()
				gw.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("HTTP %d", w.status)
				}
			}
		})
	}
}

// discardResponse is an http.ResponseWriter that keeps the status only and
// is reused from call to call, so that the benchmark counts the gateway's
// allocations, not a recorder's.
type discardResponse struct {
	header http.Header
	status int
}

func (d *discardResponse) reset() {
	clear(d.header)
	d.status = 0
}

func (d *discardResponse) Header() http.Header { return d.header }

func (d *discardResponse) WriteHeader(status int) {
	if d.status == 0 {
		d.status = status
	}
}

func (d *discardResponse) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	return len(p), nil
}
