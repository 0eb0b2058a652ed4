package call_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

var greeterKey = call.CacheKey{Service: "greeter", Version: "1.0.0"}

// cachedReflection returns a cache in dir over a new connection and
// reflection source to addr, as one run of the command line would have.
func cachedReflection(t *testing.T, addr, dir string, opts ...call.CacheOption) *call.CachedSource {
	t.Helper()
	conn := dial(t, addr, grpctransport.DialOptions{})
	fetch := call.NewReflectionSource(conn)
	t.Cleanup(func() { fetch.Close() })
	src, err := call.NewCachedSource(dir, greeterKey, fetch, opts...)
	if err != nil {
		t.Fatalf("NewCachedSource: %v", err)
	}
	return src
}

// callHello resolves Greeter.Hello through src and calls it on addr.
func callHello(t *testing.T, addr string, src call.DescriptorSource) {
	t.Helper()
	ctx := testContext(t)
	method, err := call.FindMethod(ctx, src, "greeter", "Greeter.Hello")
	if err != nil {
		t.Fatalf("FindMethod: %v", err)
	}
	rec := newRecorder()
	conn := dial(t, addr, grpctransport.DialOptions{})
	err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(`{"name":"Ada"}`), call.NewResolver(ctx, src)), rec)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if want := `{"message":"Hello Ada"}`; len(rec.responses) != 1 || rec.responses[0] != want {
		t.Fatalf("responses: want [%s], have %q", want, rec.responses)
	}
}

func TestCachedSourceWarmCacheSendsNoReflectionRequest(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	dir := t.TempDir()

	cold := cachedReflection(t, server.Addr, dir)
	callHello(t, server.Addr, cold)
	afterCold := server.ReflectionStreams.Load()
	if afterCold == 0 {
		t.Fatal("the cold cache made no reflection request")
	}
	if _, err := call.NewProtosetSource(cold.Path()); err != nil {
		t.Fatalf("the cache entry is not a protoset: %v", err)
	}

	warm := cachedReflection(t, server.Addr, dir)
	callHello(t, server.Addr, warm)
	ctx := testContext(t)
	services, err := warm.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(services, "greeter.v1.Greeter") {
		t.Errorf("ListServices from the cache: want greeter.v1.Greeter, have %q", services)
	}
	for _, endpoint := range []string{"greeter.v1.Greeter/Stream", "Greeter.Collect", "greeter.v1.Greeter.Chat"} {
		if _, err := call.FindMethod(ctx, warm, "greeter", endpoint); err != nil {
			t.Errorf("FindMethod(%s) from the cache: %v", endpoint, err)
		}
	}
	if have := server.ReflectionStreams.Load(); have != afterCold {
		t.Errorf("reflection streams: want none more on a warm cache, have %d more", have-afterCold)
	}
}

// writeStaleGreeterCache writes, as the cache entry at path, the greeter's
// descriptors without the Chat method: what a cache written before Chat was
// added would hold.
func writeStaleGreeterCache(t *testing.T, path string) {
	t.Helper()
	src := greeterProtoSource(t)
	fd, err := src.Files().FindFileByPath(greeterFile)
	if err != nil {
		t.Fatal(err)
	}
	set := call.DescriptorSetOf(fd)
	for _, file := range set.GetFile() {
		for _, service := range file.GetService() {
			var kept []*descriptorpb.MethodDescriptorProto
			for _, method := range service.GetMethod() {
				if method.GetName() != "Chat" {
					kept = append(kept, method)
				}
			}
			service.Method = kept
		}
	}
	data, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCachedSourceRefreshesWhenMethodMissing(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	src := cachedReflection(t, server.Addr, t.TempDir())
	writeStaleGreeterCache(t, src.Path())
	ctx := testContext(t)

	// Hello is in the stale entry: served from disk.
	if _, err := call.FindMethod(ctx, src, "greeter", "Greeter.Hello"); err != nil {
		t.Fatalf("FindMethod(Greeter.Hello): %v", err)
	}
	if have := server.ReflectionStreams.Load(); have != 0 {
		t.Fatalf("reflection streams for a method in the cache: want 0, have %d", have)
	}

	// Chat is not: the cache is refreshed from the server.
	method, err := call.FindMethod(ctx, src, "greeter", "Greeter.Chat")
	if err != nil {
		t.Fatalf("FindMethod(Greeter.Chat) on a stale cache: %v", err)
	}
	if !method.IsStreamingClient() || !method.IsStreamingServer() {
		t.Errorf("Chat: want a bidi method, have %v", method)
	}
	if server.ReflectionStreams.Load() == 0 {
		t.Error("the stale cache was not refreshed from the server")
	}
	fresh, err := call.NewProtosetSource(src.Path())
	if err != nil {
		t.Fatalf("read the refreshed entry: %v", err)
	}
	if _, err := fresh.FindSymbol(ctx, "greeter.v1.Greeter.Chat"); err != nil {
		t.Errorf("the refreshed entry lacks Chat: %v", err)
	}
}

func TestCachedSourceTreatsCorruptEntryAsMissing(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	src := cachedReflection(t, server.Addr, t.TempDir())
	if err := os.WriteFile(src.Path(), []byte("not a protoset \xff\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	callHello(t, server.Addr, src)
	if server.ReflectionStreams.Load() == 0 {
		t.Error("a corrupt entry was used instead of being fetched again")
	}
	if _, err := call.NewProtosetSource(src.Path()); err != nil {
		t.Errorf("the corrupt entry was not rewritten: %v", err)
	}
}

func TestCachedSourceWithRefreshIgnoresDisk(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	dir := t.TempDir()
	stale := cachedReflection(t, server.Addr, dir)
	writeStaleGreeterCache(t, stale.Path())

	src := cachedReflection(t, server.Addr, dir, call.WithRefresh())
	ctx := testContext(t)
	if _, err := src.ListServices(ctx); err != nil {
		t.Fatal(err)
	}
	if server.ReflectionStreams.Load() == 0 {
		t.Fatal("WithRefresh read the entry from disk")
	}
	fresh, err := call.NewProtosetSource(src.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.FindSymbol(ctx, "greeter.v1.Greeter.Chat"); err != nil {
		t.Errorf("the entry was not rewritten: %v", err)
	}
}

func TestCachedSourceUnknownSymbol(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	src := cachedReflection(t, server.Addr, t.TempDir())
	_, err := src.FindSymbol(testContext(t), "nowhere.Nothing")
	if !errors.Is(err, call.ErrSymbolNotFound) {
		t.Fatalf("FindSymbol(nowhere.Nothing): want ErrSymbolNotFound, have %v", err)
	}
	if !strings.Contains(err.Error(), "nowhere.Nothing") {
		t.Errorf("error does not name the symbol: %v", err)
	}
}

func TestCachedSourceWriteErrorDoesNotFailTheCall(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var writeErrs []error
	src := cachedReflection(t, server.Addr, notADir, call.WithWriteErrorHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		writeErrs = append(writeErrs, err)
	}))
	callHello(t, server.Addr, src)
	mu.Lock()
	defer mu.Unlock()
	if len(writeErrs) == 0 {
		t.Fatal("the write error was not reported")
	}
	if !strings.Contains(writeErrs[0].Error(), "greeter@1.0.0") {
		t.Errorf("write error does not name the entry: %v", writeErrs[0])
	}
}

func TestCachedSourceConcurrentUse(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	src := cachedReflection(t, server.Addr, t.TempDir())
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			if _, err := call.FindMethod(ctx, src, "greeter", "Greeter.Stream"); err != nil {
				errs <- err
			}
			if _, err := src.FindSymbol(ctx, "greeter.v1.HelloResponse"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCacheKeyFileNames(t *testing.T) {
	dir := t.TempDir()
	keys := []call.CacheKey{
		{Service: "greeter"},
		{Service: "greeter", Version: "1.0.0"},
		{Service: "greeter", Version: "1.0.1"},
		{Service: "greeter", Address: "127.0.0.1:50051"},
		{Service: "greeter", Address: "127.0.0.1:50052"},
		{Service: "../../etc/passwd", Version: "../x"},
		{Service: "a/b"},
		{Service: "a_b"},
		{Service: strings.Repeat("long", 100), Version: strings.Repeat("v", 300)},
	}
	seen := map[string]call.CacheKey{}
	for _, key := range keys {
		src, err := call.NewCachedSource(dir, key, call.NewReflectionSource(nil))
		if err != nil {
			t.Fatalf("NewCachedSource(%v): %v", key, err)
		}
		path := src.Path()
		if filepath.Dir(path) != dir {
			t.Errorf("key %v: file %s is not directly in %s", key, path, dir)
		}
		base := filepath.Base(path)
		if strings.HasPrefix(base, ".") || len(base) > 200 {
			t.Errorf("key %v: unsafe file name %q", key, base)
		}
		if other, ok := seen[base]; ok {
			t.Errorf("keys %v and %v share file %s", key, other, base)
		}
		seen[base] = key
	}
	if _, err := call.NewCachedSource(dir, call.CacheKey{}, call.NewReflectionSource(nil)); err == nil {
		t.Error("NewCachedSource with no service name: want an error")
	}
}

// The stale entry built in the tests must itself be a valid set.
func TestStaleCacheFixtureIsValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.protoset")
	writeStaleGreeterCache(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	if _, err := protodesc.NewFiles(&set); err != nil {
		t.Fatal(err)
	}
}
