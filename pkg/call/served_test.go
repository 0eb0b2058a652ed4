package call_test

import (
	"reflect"
	"testing"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
)

// The cache lists the services the server serves, as its reflection listed
// them, not every service of their files: cold and warm.
func TestCachedSourceListsServedServices(t *testing.T) {
	ctx := testContext(t)
	src, err := call.NewProtoSource(ctx, []string{"testdata"}, "legacy/v1/legacy.proto")
	if err != nil {
		t.Fatal(err)
	}
	server := grpctest.StartDescribed(t, src.Files(), []string{"legacy.v1.Legacy"}, echoEach)
	dir := t.TempDir()
	want := []string{"legacy.v1.Legacy"}

	cold := cachedReflection(t, server.Addr, dir)
	if have, err := cold.ListServices(ctx); err != nil || !reflect.DeepEqual(have, want) {
		t.Errorf("cold: want %q, have %q (%v)", want, have, err)
	}
	streams := server.ReflectionStreams.Load()
	warm := cachedReflection(t, server.Addr, dir)
	if have, err := warm.ListServices(ctx); err != nil || !reflect.DeepEqual(have, want) {
		t.Errorf("warm: want %q, have %q (%v)", want, have, err)
	}
	if server.ReflectionStreams.Load() != streams {
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
