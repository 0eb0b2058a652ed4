package client_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/service"
)

// greeterAPI builds stale.v1.Greeter: version 1 has Req{name} and
// Rep{message}; version 2 adds Req.title and Rep.mood, as a service
// rebuilt with new fields and restarted under the same version.
func greeterAPI(t *testing.T, version int) (*protoregistry.Files, protoreflect.FileDescriptor) {
	t.Helper()
	field := func(name string, number int32) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{
			Name: new(name), Number: new(number), JsonName: new(name),
			Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}
	}
	req := &descriptorpb.DescriptorProto{Name: new("Req"), Field: []*descriptorpb.FieldDescriptorProto{field("name", 1)}}
	rep := &descriptorpb.DescriptorProto{Name: new("Rep"), Field: []*descriptorpb.FieldDescriptorProto{field("message", 1)}}
	if version > 1 {
		req.Field = append(req.Field, field("title", 2))
		rep.Field = append(rep.Field, field("mood", 2))
	}
	file := &descriptorpb.FileDescriptorProto{
		Name: new("stale/v1/greeter.proto"), Package: new("stale.v1"), Syntax: new("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{req, rep},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   new("Greeter"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: new("Hello"), InputType: new(".stale.v1.Req"), OutputType: new(".stale.v1.Rep")}},
		}},
	}
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{file}})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := files.FindFileByPath("stale/v1/greeter.proto")
	if err != nil {
		t.Fatal(err)
	}
	return files, fd
}

// startGreeterAPI serves version of the API: Hello echoes the request
// (name as message, title as mood); version 2 answers mood "happy" when no
// title was given.
func startGreeterAPI(t *testing.T, version int) *grpctest.Server {
	t.Helper()
	files, _ := greeterAPI(t, version)
	return grpctest.StartDescribed(t, files, []string{"stale.v1.Greeter"}, func(srv any, stream grpc.ServerStream) error {
		var msg emptypb.Empty
		if err := stream.RecvMsg(&msg); err != nil {
			return err
		}
		raw := msg.ProtoReflect().GetUnknown()
		if version > 1 && !strings.Contains(string(raw), "\x12") {
			raw = protowire.AppendString(protowire.AppendTag(raw, 2, protowire.BytesType), "happy")
			msg.ProtoReflect().SetUnknown(raw)
		}
		return stream.SendMsg(&msg)
	})
}

// register makes server the one node of stale@1.0.0 in reg, with the
// fingerprint of version's descriptors when fingerprinted.
func registerGreeterAPI(t *testing.T, reg registry.Registry, server *grpctest.Server, version int, fingerprinted bool, previous *registry.Service) *registry.Service {
	t.Helper()
	if previous != nil {
		if err := reg.Deregister(testContext(t), previous); err != nil {
			t.Fatal(err)
		}
	}
	node := &registry.Node{ID: "stale-" + server.Addr, Address: server.Addr, Metadata: map[string]string{}}
	if fingerprinted {
		_, fd := greeterAPI(t, version)
		node.Metadata[registry.MetadataDescriptorsFingerprint] = service.DescriptorsFingerprint(fd)
	}
	svc := &registry.Service{Name: "stale", Version: "1.0.0", Nodes: []*registry.Node{node}}
	if err := reg.Register(testContext(t), svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	return svc
}

// callGreeterAPI calls stale.Greeter.Hello with request, as a new process
// with the cache in dir would, and returns the response as JSON.
func callGreeterAPI(t *testing.T, reg registry.Registry, dir, request string) (string, error) {
	t.Helper()
	c := newClient(t, client.Options{Registry: reg, CacheDir: dir})
	resolver := c.Resolver("stale")
	var out strings.Builder
	err := c.Call(testContext(t), "stale", "Greeter.Hello", call.NewJSONSupplier(strings.NewReader(request), resolver),
		call.WriteResponses(&out, call.NewJSONFormatter(resolver, call.FormatOptions{})))
	return strings.TrimSpace(out.String()), err
}

// A service rebuilt with new fields under the same version: with a
// fingerprint the cache key changes (a new entry, fetched at once); without
// one, the unknown field of the request, or the unknown fields of a
// response, make the cache be fetched again once.
func TestStaleDescriptors(t *testing.T) {
	for _, fingerprinted := range []bool{true, false} {
		name := "without fingerprint"
		if fingerprinted {
			name = "with fingerprint"
		}
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name, request, want string
			}{
				{"new request field", `{"name":"Ada","title":"Dr"}`, `{"message":"Ada","mood":"Dr"}`},
				{"new response field", `{"name":"Ada"}`, `{"message":"Ada","mood":"happy"}`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					reg := newMemoryRegistry(t)
					dir := t.TempDir()
					old := startGreeterAPI(t, 1)
					svc := registerGreeterAPI(t, reg, old, 1, fingerprinted, nil)
					if have, err := callGreeterAPI(t, reg, dir, `{"name":"Ada"}`); err != nil || have != `{"message":"Ada"}` {
						t.Fatalf("version 1: %s, %v", have, err)
					}
					old.Server.Stop()

					rebuilt := startGreeterAPI(t, 2)
					registerGreeterAPI(t, reg, rebuilt, 2, fingerprinted, svc)
					have, err := callGreeterAPI(t, reg, dir, tc.request)
					if err != nil || have != tc.want {
						t.Fatalf("version 2: want %s, have %s (%v)", tc.want, have, err)
					}
					entries, _ := os.ReadDir(dir)
					wantEntries := 1
					if fingerprinted {
						wantEntries = 2 // one per fingerprint
					}
					if len(entries) != wantEntries {
						t.Errorf("want %d cache entries, have %d", wantEntries, len(entries))
					}
					// The cache now holds version 2: no more fetching.
					streams := rebuilt.ReflectionStreams.Load()
					if have, err := callGreeterAPI(t, reg, dir, tc.request); err != nil || have != tc.want {
						t.Errorf("warm call: want %s, have %s (%v)", tc.want, have, err)
					}
					if rebuilt.ReflectionStreams.Load() != streams {
						t.Error("the warm call asked the server again")
					}
				})
			}
		})
	}

	// A field neither the cache nor the server has: fetched once, then
	// reported as unknown, saying so.
	reg := newMemoryRegistry(t)
	dir := t.TempDir()
	registerGreeterAPI(t, reg, startGreeterAPI(t, 2), 2, false, nil)
	if _, err := callGreeterAPI(t, reg, dir, `{"name":"Ada"}`); err != nil {
		t.Fatal(err)
	}
	_, err := callGreeterAPI(t, reg, dir, `{"name":"Ada","nope":1}`)
	if !errors.Is(err, call.ErrUnknownField) || !errors.Is(err, call.ErrStaleDescriptors) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("want an unknown field error after a refetch, have %v", err)
	}
}
