package service

import (
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/microtools/micro/pkg/registry"
)

func TestEndpoints(t *testing.T) {
	server := grpc.NewServer()
	t.Cleanup(server.Stop)
	testgrpc.RegisterTestServiceServer(server, testgrpc.UnimplementedTestServiceServer{})
	healthgrpc.RegisterHealthServer(server, health.NewServer())
	reflection.Register(server)

	eps := endpoints(server.GetServiceInfo(), protoregistry.GlobalFiles)

	var names []string
	for _, ep := range eps {
		names = append(names, ep.Name)
	}
	wantNames := []string{
		"TestService.CacheableUnaryCall", "TestService.EmptyCall", "TestService.FullDuplexCall",
		"TestService.HalfDuplexCall", "TestService.StreamingInputCall", "TestService.StreamingOutputCall",
		"TestService.UnaryCall", "TestService.UnimplementedCall",
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("want endpoints %q, have %q", wantNames, names)
	}

	tests := []struct {
		name, stream, request, response string
	}{
		{"TestService.UnaryCall", StreamUnary, "grpc.testing.SimpleRequest", "grpc.testing.SimpleResponse"},
		{"TestService.StreamingOutputCall", StreamServer, "grpc.testing.StreamingOutputCallRequest", "grpc.testing.StreamingOutputCallResponse"},
		{"TestService.StreamingInputCall", StreamClient, "grpc.testing.StreamingInputCallRequest", "grpc.testing.StreamingInputCallResponse"},
		{"TestService.FullDuplexCall", StreamBidi, "grpc.testing.StreamingOutputCallRequest", "grpc.testing.StreamingOutputCallResponse"},
		{"TestService.EmptyCall", StreamUnary, "grpc.testing.Empty", "grpc.testing.Empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := slices.IndexFunc(eps, func(ep *registry.Endpoint) bool { return ep.Name == tt.name })
			ep := eps[i]
			method := tt.name[len("TestService."):]
			for key, want := range map[string]string{
				EndpointStream:  tt.stream,
				EndpointService: "grpc.testing.TestService",
				EndpointMethod:  "/grpc.testing.TestService/" + method,
			} {
				if have := ep.Metadata[key]; have != want {
					t.Errorf("metadata %s: want %q, have %q", key, want, have)
				}
			}
			if ep.Request == nil || ep.Request.Name != tt.request || ep.Request.Type != tt.request {
				t.Errorf("want request %s, have %+v", tt.request, ep.Request)
			}
			if ep.Response == nil || ep.Response.Name != tt.response || ep.Response.Type != tt.response {
				t.Errorf("want response %s, have %+v", tt.response, ep.Response)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		i := slices.IndexFunc(eps, func(ep *registry.Endpoint) bool { return ep.Name == "TestService.UnaryCall" })
		fields := map[string]string{}
		for _, v := range eps[i].Request.Values {
			fields[v.Name] = v.Type
		}
		for name, want := range map[string]string{
			"response_type": "grpc.testing.PayloadType",
			"response_size": "int32",
			"payload":       "grpc.testing.Payload",
			"fill_username": "bool",
		} {
			if have := fields[name]; have != want {
				t.Errorf("field %s: want type %q, have %q", name, want, have)
			}
		}
	})
}

func TestEndpointsWithoutDescriptors(t *testing.T) {
	info := map[string]grpc.ServiceInfo{
		"example.v1.Unknown": {Methods: []grpc.MethodInfo{{Name: "Do", IsServerStream: true}}, Metadata: "unknown.proto"},
	}
	eps := endpoints(info, new(protoregistry.Files))
	if len(eps) != 1 {
		t.Fatalf("want 1 endpoint, have %d", len(eps))
	}
	ep := eps[0]
	if ep.Name != "Unknown.Do" || ep.Metadata[EndpointStream] != StreamServer || ep.Metadata[EndpointMethod] != "/example.v1.Unknown/Do" {
		t.Errorf("unexpected endpoint %+v", ep)
	}
	if ep.Request != nil || ep.Response != nil {
		t.Errorf("want no request or response without descriptors, have %+v %+v", ep.Request, ep.Response)
	}
}
