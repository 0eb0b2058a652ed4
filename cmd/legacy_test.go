package cmd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
)

// startLegacy serves legacy.v1.Legacy (pkg/call/testdata: proto2 fields
// with declared defaults) on 127.0.0.1, echoing each request; its
// reflection lists Legacy only, though the file declares Unserved too.
func startLegacy(t *testing.T) string {
	t.Helper()
	src, err := call.NewProtoSource(context.Background(), []string{filepath.Join("..", "pkg", "call", "testdata")}, "legacy/v1/legacy.proto")
	if err != nil {
		t.Fatal(err)
	}
	echo := func(_ any, stream grpc.ServerStream) error {
		var msg emptypb.Empty // the request's fields kept as unknown ones
		if err := stream.RecvMsg(&msg); err != nil {
			return err
		}
		return stream.SendMsg(&msg)
	}
	return grpctest.StartDescribed(t, src.Files(), []string{"legacy.v1.Legacy"}, echo).Addr
}

// Issue 9 row 6 as the user sees it: --emit-defaults prints a proto2
// field's declared default, not null; describe lists the services the
// server serves, not every service in its files, cold and from the
// descriptor cache.
func TestLegacyServer(t *testing.T) {
	addr := startLegacy(t)
	stdout, stderr, code := runCall(t, "call", "legacy.Legacy.Get", `{"count":3}`, "--address", addr, "--emit-defaults", "-o", "json")
	want := `{"name":"anon","count":3,"ratio":0.5,"on":true,"colour":"COLOUR_GREEN","note":"","blob":"aGk=","inner":null,"many":[]}` + "\n"
	if code != 0 || stdout != want {
		t.Errorf("call --emit-defaults: want %s, have exit %d %q %s", want, code, stdout, stderr)
	}

	env := map[string]string{"XDG_CACHE_HOME": t.TempDir(), "MICRO_CONFIG": filepath.Join(t.TempDir(), "none.json")}
	for _, run := range []string{"cold", "from the cache"} {
		stdout, stderr, code := runCLI(t, env, "describe", "legacy", "--address", addr)
		if code != 0 || !strings.Contains(stdout, "service legacy.v1.Legacy") || strings.Contains(stdout, "Unserved") {
			t.Errorf("describe (%s): want legacy.v1.Legacy and not Unserved, have exit %d\n%s%s", run, code, stdout, stderr)
		}
	}
}
