package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// TestRoutesOption mounts an extra handler (the console's hook) behind the
// gateway's token.
func TestRoutesOption(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console at "+r.URL.Path) })
	e := newEnv(t, api.Options{AuthToken: "t", Routes: map[string]http.Handler{"/ui/": ui}})
	wantStatus(t, e.get(t, "/ui/"), 401)
	if body := wantStatus(t, e.get(t, "/ui/app.js", "Authorization: Bearer t"), 200); body != "console at /ui/app.js" {
		t.Errorf("want the mounted handler, have %q", body)
	}
	if _, err := api.New(api.Options{Registry: memory.New(), Client: endpointClient{}, Routes: map[string]http.Handler{"ui": ui}}); err == nil {
		t.Error("want an error for a route prefix that is not a path")
	}
}

// endpointClient stands in for a client that can call go-micro's mucp
// services by registry record: it answers CallEndpoint with the request it
// got, and has no descriptors. (The real mucp path, through pkg/client and
// the mucp test server, is not in main yet.)
type endpointClient struct{}

func (endpointClient) Describe(context.Context, string) ([]protoreflect.ServiceDescriptor, error) {
	return nil, api.ErrNoDescriptors
}

func (endpointClient) FindMethod(context.Context, string, string) (protoreflect.MethodDescriptor, error) {
	return nil, api.ErrNoDescriptors
}

func (endpointClient) Invoke(context.Context, string, protoreflect.MethodDescriptor, proto.Message, metadata.MD, api.ResponseHandler) error {
	return status.Error(codes.Internal, "not called")
}

func (endpointClient) Resolver(string) call.Resolver { return nil }

func (endpointClient) CallEndpoint(_ context.Context, service, endpoint string, body []byte, md metadata.MD) ([]byte, metadata.MD, error) {
	if strings.Contains(string(body), "fail") {
		return nil, nil, status.Error(codes.NotFound, "no such greeting")
	}
	return []byte(`{"service":"` + service + `","endpoint":"` + endpoint + `","got":` + string(body) + `}`), metadata.Pairs("x-from", "mucp"), nil
}

// TestEndpointCaller routes a service whose nodes say protocol mucp to
// the client's CallEndpoint, and documents it from its registry record.
func TestEndpointCaller(t *testing.T) {
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	err := reg.Register(t.Context(), &registry.Service{
		Name: "legacy", Version: "latest",
		Nodes: []*registry.Node{{ID: "legacy-1", Address: "127.0.0.1:1", Metadata: map[string]string{"protocol": "mucp", "transport": "http"}}},
		Endpoints: []*registry.Endpoint{{
			Name:     "Say.Hello",
			Request:  &registry.Value{Name: "Request", Type: "Request", Values: []*registry.Value{{Name: "name", Type: "string"}}},
			Response: &registry.Value{Name: "Response", Type: "Response", Values: []*registry.Value{{Name: "msg", Type: "string"}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := api.New(api.Options{Registry: reg, Client: endpointClient{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	e := &env{gateway: gw}
	e.server = newServer(t, gw)

	resp := e.post(t, "/legacy/Say.Hello", "application/json", []byte(`{"name":"Ada"}`), "X-Trace: 1")
	body := wantStatus(t, resp, 200)
	if strings.TrimSpace(body) != `{"service":"legacy","endpoint":"Say.Hello","got":{"name":"Ada"}}` || resp.Header.Get("X-From") != "mucp" {
		t.Errorf("have %s %v", body, resp.Header)
	}
	body = wantStatus(t, e.post(t, "/legacy/Say.Hello", "application/json", []byte(`{"name":"fail"}`)), 404)
	if !strings.Contains(body, "no such greeting") {
		t.Errorf("have %s", body)
	}
	body = wantStatus(t, e.post(t, "/legacy/Say.Nope", "application/json", []byte(`{}`)), 404)
	if !strings.Contains(body, `has no endpoint \"Say.Nope\"; it has Say.Hello`) {
		t.Errorf("have %s", body)
	}
	doc := wantStatus(t, e.get(t, "/legacy"), 200)
	if !strings.Contains(doc, `"source":"registry"`) || !strings.Contains(doc, `"name":{"type":"string"}`) {
		t.Errorf("want the endpoint described from its record, have %s", doc)
	}
	openapi := wantStatus(t, e.get(t, "/openapi.json"), 200)
	if !strings.Contains(openapi, `"/legacy/Say.Hello"`) {
		t.Errorf("want the mucp endpoint in the OpenAPI document, have %s", openapi)
	}
}
