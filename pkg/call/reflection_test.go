package call_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	v1alphagrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// TestReflectionVersions describes and calls the greeter through servers that
// serve reflection v1 only, v1alpha only (older servers), or both.
func TestReflectionVersions(t *testing.T) {
	tests := []struct {
		name     string
		register func(*grpc.Server)
		service  string // the reflection service the server lists
	}{
		{"v1 and v1alpha", func(s *grpc.Server) { reflection.Register(s) }, "grpc.reflection.v1.ServerReflection"},
		{"v1 only", func(s *grpc.Server) { reflection.RegisterV1(s) }, "grpc.reflection.v1.ServerReflection"},
		{"v1alpha only", func(s *grpc.Server) {
			v1alphagrpc.RegisterServerReflectionServer(s, reflection.NewServer(reflection.ServerOptions{Services: s}))
		}, "grpc.reflection.v1alpha.ServerReflection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server := grpctest.Start(t, grpctest.Config{Register: func(s *grpc.Server) {
				greeterpb.RegisterGreeterServer(s, handler.New())
				tc.register(s)
			}})
			conn := dial(t, server.Addr, grpctransport.DialOptions{})
			src := call.NewReflectionSource(conn)
			t.Cleanup(func() { src.Close() })
			ctx := testContext(t)
			services, err := src.ListServices(ctx)
			if err != nil {
				t.Fatalf("ListServices: %v", err)
			}
			for _, want := range []string{"greeter.v1.Greeter", tc.service} {
				if !slices.Contains(services, want) {
					t.Errorf("ListServices: want %s among %q", want, services)
				}
			}
			rec := newRecorder()
			method, err := call.FindMethod(ctx, src, "greeter", "Greeter.Stream")
			if err != nil {
				t.Fatal(err)
			}
			if err := call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(`{"name":"V","count":2}`), nil), rec); err != nil {
				t.Fatal(err)
			}
			if len(rec.responses) != 2 {
				t.Errorf("responses: want 2, have %q", rec.responses)
			}
		})
	}
}
