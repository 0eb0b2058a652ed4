package e2e

import (
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/microtools/micro/pkg/service"
)

// staleAPI is stale.v1.Greeter as built twice: version 2 adds Req.title
// (echoed as Rep.mood) and answers mood "happy" when no title is given.
func staleAPI(t *testing.T, version int) *protoregistry.Files {
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
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{
		Name: new("stale/v1/greeter.proto"), Package: new("stale.v1"), Syntax: new("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{req, rep},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   new("Greeter"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: new("Hello"), InputType: new(".stale.v1.Req"), OutputType: new(".stale.v1.Rep")}},
		}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

type servedList []string

func (s servedList) GetServiceInfo() map[string]grpc.ServiceInfo {
	info := map[string]grpc.ServiceInfo{}
	for _, name := range s {
		info[name] = grpc.ServiceInfo{}
	}
	return info
}

// startStaleAPI serves version of stale.v1.Greeter on 127.0.0.1 with
// reflection, and returns its address and its descriptors fingerprint.
// (A test server rather than the greeter: the greeter cannot be rebuilt
// with another API inside a test.)
func startStaleAPI(t *testing.T, version int) (string, func(), string) {
	t.Helper()
	files := staleAPI(t, version)
	echo := func(srv any, stream grpc.ServerStream) error {
		var msg emptypb.Empty
		if err := stream.RecvMsg(&msg); err != nil {
			return err
		}
		raw := msg.ProtoReflect().GetUnknown()
		if version > 1 && !strings.Contains(string(raw), "\x12") {
			msg.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(raw, 2, protowire.BytesType), "happy"))
		}
		return stream.SendMsg(&msg)
	}
	server := grpc.NewServer(grpc.UnknownServiceHandler(echo))
	reflectionpb.RegisterServerReflectionServer(server, reflection.NewServerV1(reflection.ServerOptions{
		Services: servedList{"stale.v1.Greeter"}, DescriptorResolver: files,
	}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	fd, err := files.FindFileByPath("stale/v1/greeter.proto")
	if err != nil {
		t.Fatal(err)
	}
	return lis.Addr().String(), server.Stop, service.DescriptorsFingerprint(fd)
}

// A service rebuilt with a new field and restarted under the same name and
// version is called with its new descriptors: with a fingerprint in its
// node metadata (a new cache entry at once), and without one (the unknown
// field, or the unknown response fields, fetch the descriptors again).
func TestCallRebuiltService(t *testing.T) {
	for _, fingerprinted := range []bool{true, false} {
		name := "without fingerprint"
		if fingerprinted {
			name = "with fingerprint"
		}
		t.Run(name, func(t *testing.T) {
			b := natsBackend(t)
			environ := callEnv(b, t.TempDir())
			register := func(addr, fingerprint string) {
				t.Helper()
				args := []string{"register", "service", "--name", "stale", "--version", "1.0.0", "--address", addr, "--ttl", "5m"}
				if fingerprinted {
					args = append(args, "--metadata", "descriptors-fingerprint="+fingerprint)
				}
				if res := micro(t, environ, args...); res.code != 0 {
					t.Fatalf("register: %s", res)
				}
			}
			oldAddr, stopOld, oldPrint := startStaleAPI(t, 1)
			register(oldAddr, oldPrint)
			res := micro(t, environ, "call", "stale.Greeter.Hello", `{"name":"Ada"}`, "-o", "json")
			if res.code != 0 || res.stdout != `{"message":"Ada"}`+"\n" {
				t.Fatalf("version 1: %s", res)
			}
			stopOld()
			if res := micro(t, environ, "deregister", "service", "--name", "stale", "--address", oldAddr); res.code != 0 {
				t.Fatalf("deregister: %s", res)
			}

			newAddr, _, newPrint := startStaleAPI(t, 2)
			register(newAddr, newPrint)
			res = micro(t, environ, "call", "stale.Greeter.Hello", `{"name":"Ada"}`, "-o", "json")
			if res.code != 0 || res.stdout != `{"message":"Ada","mood":"happy"}`+"\n" {
				t.Errorf("a new response field: %s", res)
			}
			res = micro(t, environ, "call", "stale.Greeter.Hello", `{"name":"Ada","title":"Dr"}`, "-o", "json")
			if res.code != 0 || res.stdout != `{"message":"Ada","mood":"Dr"}`+"\n" {
				t.Errorf("a new request field: %s", res)
			}
			res = micro(t, environ, "call", "stale.Greeter.Hello", `{"name":"Ada","nope":"x"}`)
			assertCleanError(t, res, 2, `unknown field "nope"`, "--refresh")
		})
	}
}
