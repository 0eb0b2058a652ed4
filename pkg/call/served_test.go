package call_test

import (
	"reflect"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/microtools/micro/pkg/call"
)

// servedServices is what a test server says it serves, through reflection.
type servedServices []string

func (s servedServices) GetServiceInfo() map[string]grpc.ServiceInfo {
	info := map[string]grpc.ServiceInfo{}
	for _, name := range s {
		info[name] = grpc.ServiceInfo{}
	}
	return info
}

// startDescribedServer starts a server whose reflection describes services
// from files (compiled in the test, not generated code), and whose methods
// are answered by handler.
func startDescribedServer(t *testing.T, files *protoregistry.Files, services []string, handler grpc.StreamHandler, options ...grpc.ServerOption) *testServer {
	t.Helper()
	return startServer(t, serverConfig{
		options: append([]grpc.ServerOption{grpc.UnknownServiceHandler(handler)}, options...),
		register: func(s *grpc.Server) {
			reflectionpb.RegisterServerReflectionServer(s, reflection.NewServerV1(reflection.ServerOptions{
				Services:           servedServices(services),
				DescriptorResolver: files,
			}))
		},
	})
}

// The cache lists the services the server serves, as its reflection listed
// them, not every service of their files: cold and warm.
func TestCachedSourceListsServedServices(t *testing.T) {
	ctx := testContext(t)
	src, err := call.NewProtoSource(ctx, []string{"testdata"}, "legacy/v1/legacy.proto")
	if err != nil {
		t.Fatal(err)
	}
	server := startDescribedServer(t, src.Files(), []string{"legacy.v1.Legacy"}, echoEach)
	dir := t.TempDir()
	want := []string{"legacy.v1.Legacy"}

	cold := cachedReflection(t, server.addr, dir)
	if have, err := cold.ListServices(ctx); err != nil || !reflect.DeepEqual(have, want) {
		t.Errorf("cold: want %q, have %q (%v)", want, have, err)
	}
	streams := server.reflectionStreams.Load()
	warm := cachedReflection(t, server.addr, dir)
	if have, err := warm.ListServices(ctx); err != nil || !reflect.DeepEqual(have, want) {
		t.Errorf("warm: want %q, have %q (%v)", want, have, err)
	}
	if server.reflectionStreams.Load() != streams {
		t.Error("the warm cache asked the server")
	}
	// The entry is still a protoset any tool reads.
	protoset, err := call.NewProtosetSource(warm.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protoset.FindSymbol(ctx, "legacy.v1.Unserved"); err != nil {
		t.Errorf("the protoset should hold the whole file: %v", err)
	}
}
