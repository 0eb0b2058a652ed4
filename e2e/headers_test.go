package e2e

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

// startGuardedGreeter serves the greeter on 127.0.0.1 with reflection that
// wants the metadata reflectKey: "r", and calls (health checks included)
// that want rpcKey: "c".
func startGuardedGreeter(t *testing.T, reflectKey, rpcKey string) string {
	t.Helper()
	want := func(ctx context.Context, key, value string) error {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get(key); len(got) != 1 || got[0] != value {
			return status.Errorf(codes.Unauthenticated, "%s is required", key)
		}
		return nil
	}
	server := grpc.NewServer(
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if err := want(ctx, rpcKey, "c"); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			key, value := rpcKey, "c"
			if strings.HasPrefix(info.FullMethod, "/grpc.reflection.") {
				key, value = reflectKey, "r"
			}
			if err := want(ss.Context(), key, value); err != nil {
				return err
			}
			return next(srv, ss)
		}))
	greeterpb.RegisterGreeterServer(server, handler.New())
	healthpb.RegisterHealthServer(server, health.NewServer())
	reflection.Register(server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	return lis.Addr().String()
}

// -H goes on the reflection requests too; --reflect-header and
// --rpc-header send to one of them only; describe and health take -H.
func TestHeadersReachReflection(t *testing.T) {
	addr := startGuardedGreeter(t, "x-reflect-token", "x-rpc-token")
	environ := env("XDG_CACHE_HOME=" + t.TempDir())
	hello := func(flags ...string) result {
		t.Helper()
		args := append([]string{"call", "greeter.Hello", `{"name":"Ada"}`, "--address", addr, "--no-cache", "-o", "json"}, flags...)
		return micro(t, environ, args...)
	}
	ok := `{"message":"Hello Ada"}` + "\n"

	if res := hello("-H", "x-reflect-token:r", "-H", "x-rpc-token:c"); res.code != 0 || res.stdout != ok {
		t.Errorf("-H for both: %s", res)
	}
	if res := hello("--reflect-header", "x-reflect-token:r", "--rpc-header", "x-rpc-token:c"); res.code != 0 || res.stdout != ok {
		t.Errorf("--reflect-header and --rpc-header: %s", res)
	}
	res := hello("--rpc-header", "x-rpc-token:c")
	assertCleanError(t, res, 1, "Unauthenticated", "x-reflect-token is required", "--reflect-header")
	res = hello("--reflect-header", "x-reflect-token:r")
	assertCleanError(t, res, 64+16, "Unauthenticated", "x-rpc-token is required")

	res = micro(t, environ, "describe", "greeter", "--address", addr, "--no-cache", "-H", "x-reflect-token:r")
	if res.code != 0 || !strings.Contains(res.stdout, "service greeter.v1.Greeter") {
		t.Errorf("describe -H: %s", res)
	}
	res = micro(t, environ, "describe", "greeter", "--address", addr, "--no-cache")
	if res.code == 0 || !strings.Contains(res.stderr, "x-reflect-token is required") {
		t.Errorf("describe without the header should fail: %s", res)
	}

	res = micro(t, environ, "health", "greeter", "--address", addr, "-H", "x-rpc-token:c")
	if res.code != 0 || !strings.Contains(res.stdout, "SERVING") {
		t.Errorf("health -H: %s", res)
	}
	res = micro(t, environ, "health", "greeter", "--address", addr)
	if res.code != 1 || !strings.Contains(res.stdout, "x-rpc-token is required") {
		t.Errorf("health without the header should fail: %s", res)
	}
}
