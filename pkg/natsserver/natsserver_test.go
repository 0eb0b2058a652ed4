package natsserver_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/natsserver"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, opts natsserver.Options) *natsserver.Server {
	t.Helper()
	srv, err := natsserver.Start(testContext(t), opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

func connect(t *testing.T, url string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url, natsgo.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestStartFreePortWithJetStream(t *testing.T) {
	srv := start(t, natsserver.Options{Address: "127.0.0.1:0", DataDir: t.TempDir()})

	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(srv.ClientURL(), ":0") {
		t.Fatalf("want nats://127.0.0.1:<port>, have %s", srv.ClientURL())
	}
	if "nats://"+srv.Addr() != srv.ClientURL() {
		t.Errorf("Addr %s does not match ClientURL %s", srv.Addr(), srv.ClientURL())
	}
	js, err := jetstream.New(connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(testContext(t)); err != nil {
		t.Fatalf("jetstream should be enabled: %v", err)
	}
}

func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	addr := l.Addr().String()

	srv, err := natsserver.Start(testContext(t), natsserver.Options{Address: addr, DataDir: t.TempDir()})
	if err == nil {
		srv.Shutdown()
		t.Fatalf("start on a taken port %s: want an error", addr)
	}
	want := "nats server: cannot listen on " + addr + ": address already in use"
	if err.Error() != want {
		t.Errorf("want %q, have %q", want, err)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("want errors.Is(err, EADDRINUSE), have %v", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	cases := []struct {
		name string
		opts natsserver.Options
		want string
	}{
		{"no data dir", natsserver.Options{Address: "127.0.0.1:0"}, "no data directory"},
		{"no port", natsserver.Options{Address: "127.0.0.1", DataDir: "x"}, `address "127.0.0.1" is not host:port`},
		{"bad port", natsserver.Options{Address: "127.0.0.1:99999", DataDir: "x"}, `invalid port "99999"`},
		{"name with space", natsserver.Options{Address: "127.0.0.1:0", DataDir: "x", ServerName: "a b"}, "server name cannot contain spaces"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.opts.DataDir == "x" {
				c.opts.DataDir = t.TempDir()
			}
			srv, err := natsserver.Start(testContext(t), c.opts)
			if err == nil {
				srv.Shutdown()
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "nats server: ") {
				t.Errorf("want an error containing %q, have %q", c.want, err)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := natsserver.Start(ctx, natsserver.Options{Address: "127.0.0.1:0", DataDir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, have %v", err)
	}
}

// TestDataSurvivesRestart restarts a server on the same port and directory
// and finds a key-value entry written before.
func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	first, err := natsserver.Start(testContext(t), natsserver.Options{Address: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc := connect(t, first.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(testContext(t), jetstream.KeyValueConfig{Bucket: "survivor", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(testContext(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	first.Shutdown()
	first.Shutdown() // harmless
	first.WaitForShutdown()

	second := start(t, natsserver.Options{Address: first.Addr(), DataDir: dir})
	if second.ClientURL() != first.ClientURL() {
		t.Errorf("want the same url %s, have %s", first.ClientURL(), second.ClientURL())
	}
	js, err = jetstream.New(connect(t, second.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	kv, err = js.KeyValue(testContext(t), "survivor")
	if err != nil {
		t.Fatalf("bucket lost across restart: %v", err)
	}
	entry, err := kv.Get(testContext(t), "k")
	if err != nil || string(entry.Value()) != "v" {
		t.Fatalf("want k=v after restart, have %v, %v", entry, err)
	}
}

func TestLogger(t *testing.T) {
	var out testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := start(t, natsserver.Options{Address: "127.0.0.1:0", DataDir: t.TempDir(), Logger: logger})
	srv.Shutdown()
	if !strings.Contains(out.String(), "Server is ready") {
		t.Errorf("want the server log in the logger, have:\n%s", out.String())
	}
}
