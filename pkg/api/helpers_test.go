package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/service"
)

// callClient is an api.Client over pkg/client's Client, as cmd/api has
// (pkg/* cannot import cmd/*, so the tests carry their own copy).
type callClient struct{ client *client.Client }

func (a callClient) Describe(ctx context.Context, svc string) ([]protoreflect.ServiceDescriptor, error) {
	src, err := a.client.Source(ctx, svc)
	if err != nil {
		return nil, err
	}
	names, err := src.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	var out []protoreflect.ServiceDescriptor
	for _, name := range names {
		if strings.HasPrefix(name, "grpc.") {
			continue
		}
		d, err := src.FindSymbol(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, d.(protoreflect.ServiceDescriptor))
	}
	return out, nil
}

func (a callClient) FindMethod(ctx context.Context, svc, endpoint string) (protoreflect.MethodDescriptor, error) {
	src, err := a.client.Source(ctx, svc)
	if err != nil {
		return nil, err
	}
	return call.FindMethod(ctx, src, svc, endpoint)
}

func (a callClient) Invoke(ctx context.Context, svc string, method protoreflect.MethodDescriptor, req proto.Message, md metadata.MD, h api.ResponseHandler) error {
	events := api.NewCallEvents(req, h)
	if len(md) == 0 {
		return a.client.Call(ctx, svc, call.FullMethodName(method), events.Supply, events)
	}
	return a.client.Call(ctx, svc, call.FullMethodName(method), events.Supply, events, call.WithHeaders(md))
}

func (a callClient) Resolver(svc string) call.Resolver { return a.client.Resolver(svc) }

// env is a registry with greeter registered (a real gRPC server on
// 127.0.0.1:0, pkg/service with reflection) and a gateway over it.
type env struct {
	reg     *memory.Registry
	gateway *api.Gateway
	server  *httptest.Server
	logs    *bytes.Buffer
	client  *client.Client // what the gateway calls through
}

// startGreeter runs greeter under name in reg until the test ends.
func startGreeter(t testing.TB, reg registry.Registry, name string) {
	t.Helper()
	svc, err := service.New(
		service.Name(name),
		service.Version("1.0.0"),
		service.Registry(reg),
		service.Address("127.0.0.1:0"),
		service.Handle(func(s grpc.ServiceRegistrar) { greeterpb.RegisterGreeterServer(s, handler.New()) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
}

func newEnv(t *testing.T, opts api.Options) *env {
	t.Helper()
	return newEnvTB(t, opts)
}

func newEnvTB(t testing.TB, opts api.Options) *env {
	t.Helper()
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	startGreeter(t, reg, "greeter")
	cl, err := client.New(client.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	opts.Registry, opts.Client = reg, callClient{client: cl}
	gw, err := api.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		gw.Close()
		srv.Close()
	})
	return &env{reg: reg, gateway: gw, server: srv, client: cl}
}

// post sends body to path with the headers given as "Key: value".
func (e *env) post(t *testing.T, path, contentType string, body []byte, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.server.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	setHeaders(t, req, headers)
	resp, err := e.server.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (e *env) get(t *testing.T, path string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	setHeaders(t, req, headers)
	resp, err := e.server.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func setHeaders(t *testing.T, req *http.Request, headers []string) {
	t.Helper()
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			t.Fatalf("header %q is not Key: value", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(data)
}

// wantStatus fails the test unless resp has status want.
func wantStatus(t *testing.T, resp *http.Response, want int) string {
	t.Helper()
	body := readAll(t, resp)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: want HTTP %d, have %d: %s", resp.Request.Method, resp.Request.URL.Path, want, resp.StatusCode, body)
	}
	return body
}

// frames splits an enveloped body (Connect streams, gRPC-Web) into its
// frames.
type frame struct {
	flags   byte
	payload []byte
}

func frames(t *testing.T, body []byte) []frame {
	t.Helper()
	var out []frame
	for len(body) > 0 {
		if len(body) < 5 {
			t.Fatalf("truncated frame header: % x", body)
		}
		n := int(body[1])<<24 | int(body[2])<<16 | int(body[3])<<8 | int(body[4])
		if len(body) < 5+n {
			t.Fatalf("truncated frame: want %d bytes, have %d", n, len(body)-5)
		}
		out = append(out, frame{flags: body[0], payload: body[5 : 5+n]})
		body = body[5+n:]
	}
	return out
}

func envelope(flags byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{flags, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, payload...)
}

func newServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
