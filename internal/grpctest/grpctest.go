// Package grpctest starts gRPC servers on 127.0.0.1 for the tests of the
// packages that call them (pkg/call, pkg/client): the greeter of
// examples/greeter, or a server whose reflection describes descriptors
// built in the test. Each server counts the reflection streams opened on
// it, so that a test can tell whether a call asked for descriptors.
package grpctest

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

// Server is a gRPC server on 127.0.0.1, stopped when the test ends.
type Server struct {
	// Addr is its host:port.
	Addr string
	// Server is the server itself, to stop it early.
	Server *grpc.Server
	// ReflectionStreams counts the reflection streams opened, v1 and
	// v1alpha.
	ReflectionStreams atomic.Int64
}

// Config says what a Server serves.
type Config struct {
	// Reflection registers gRPC's reflection service.
	Reflection bool
	// Options are added to the server's.
	Options []grpc.ServerOption
	// Register registers the services.
	Register func(*grpc.Server)
}

// Start starts a server as config says.
func Start(t testing.TB, config Config) *Server {
	t.Helper()
	ts := &Server{}
	countReflection := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		if strings.HasPrefix(info.FullMethod, "/grpc.reflection.") {
			ts.ReflectionStreams.Add(1)
		}
		return next(srv, ss)
	}
	options := append([]grpc.ServerOption{grpc.StreamInterceptor(countReflection)}, config.Options...)
	server := grpc.NewServer(options...)
	if config.Register != nil {
		config.Register(server)
	}
	if config.Reflection {
		reflection.Register(server)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	ts.Addr, ts.Server = listener.Addr().String(), server
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	t.Cleanup(func() {
		server.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve on %s: %v", ts.Addr, err)
		}
	})
	return ts
}

// StartGreeter starts a greeter server, with reflection when asked.
func StartGreeter(t testing.TB, reflect bool, options ...grpc.ServerOption) *Server {
	t.Helper()
	return Start(t, Config{
		Reflection: reflect,
		Options:    options,
		Register:   func(s *grpc.Server) { greeterpb.RegisterGreeterServer(s, handler.New()) },
	})
}

// servedServices is what a described server says it serves, through
// reflection.
type servedServices []string

func (s servedServices) GetServiceInfo() map[string]grpc.ServiceInfo {
	info := map[string]grpc.ServiceInfo{}
	for _, name := range s {
		info[name] = grpc.ServiceInfo{}
	}
	return info
}

// StartDescribed starts a server whose reflection describes services from
// files (compiled in the test, not generated code), and whose methods are
// answered by handler.
func StartDescribed(t testing.TB, files *protoregistry.Files, services []string, handler grpc.StreamHandler, options ...grpc.ServerOption) *Server {
	t.Helper()
	return Start(t, Config{
		Options: append([]grpc.ServerOption{grpc.UnknownServiceHandler(handler)}, options...),
		Register: func(s *grpc.Server) {
			reflectionpb.RegisterServerReflectionServer(s, reflection.NewServerV1(reflection.ServerOptions{
				Services:           servedServices(services),
				DescriptorResolver: files,
			}))
		},
	})
}
