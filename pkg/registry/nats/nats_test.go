package nats_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newRegistry opens a registry on url and closes it when t ends.
func newRegistry(t *testing.T, url string, opts ...natsregistry.Option) *natsregistry.Registry {
	t.Helper()
	r, err := natsregistry.New(testContext(t), append([]natsregistry.Option{natsregistry.WithURL(url)}, opts...)...)
	if err != nil {
		t.Fatalf("new registry at %s: %v", url, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func register(t *testing.T, r registry.Registry, svc *registry.Service, opts ...registry.RegisterOption) {
	t.Helper()
	if err := r.Register(testContext(t), svc, opts...); err != nil {
		t.Fatalf("register %s: %v", svc.Name, err)
	}
}

func service(name, nodeID, addr string) *registry.Service {
	return &registry.Service{Name: name, Version: "1", Nodes: []*registry.Node{{ID: nodeID, Address: addr, Metadata: map[string]string{"k": "v"}}}}
}

func watch(t *testing.T, r registry.Registry, opts ...registry.WatchOption) registry.Watcher {
	t.Helper()
	w, err := r.Watch(testContext(t), opts...)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

type nextResult struct {
	event *registry.Event
	err   error
}

// next returns the next event of w, failing t when none comes within.
func next(t *testing.T, w registry.Watcher, within time.Duration) *registry.Event {
	t.Helper()
	ch := make(chan nextResult, 1)
	go func() {
		ev, err := w.Next()
		ch <- nextResult{ev, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("watch: %v", res.err)
		}
		return res.event
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
		return nil
	}
}

func expect(t *testing.T, ev *registry.Event, typ registry.EventType, name, nodeID string) {
	t.Helper()
	if ev.Type != typ || ev.Service.Name != name || len(ev.Service.Nodes) != 1 || ev.Service.Nodes[0].ID != nodeID {
		t.Fatalf("want %s of %s node %s, have %s of %s %+v", typ, name, nodeID, ev.Type, ev.Service.Name, ev.Service.Nodes)
	}
}

func TestContract(t *testing.T) {
	srv := testenv.NATS(t)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newRegistry(t, srv.URL())
	})
}

// TestDottedServiceNames checks that a service never sees the nodes of a
// service whose name extends its own, nor of one whose name plus node ID
// would spell the same key without escaping.
func TestDottedServiceNames(t *testing.T) {
	r := newRegistry(t, testenv.NATS(t).URL())
	register(t, r, service("a", "n1", "127.0.0.1:1001"))
	register(t, r, service("a", "b.x", "127.0.0.1:1002"))
	register(t, r, service("a.b", "x", "127.0.0.1:1003"))
	register(t, r, service("go.micro.srv.greeter", "g.1", "127.0.0.1:1004"))

	cases := []struct {
		name      string
		wantNodes []string
	}{
		{"a", []string{"b.x", "n1"}},
		{"a.b", []string{"x"}},
		{"go.micro.srv.greeter", []string{"g.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.GetService(testContext(t), c.name)
			if err != nil {
				t.Fatal(err)
			}
			var have []string
			for _, svc := range got {
				if svc.Name != c.name {
					t.Errorf("asked for %q, got a record of %q", c.name, svc.Name)
				}
				for _, n := range svc.Nodes {
					have = append(have, n.ID)
				}
			}
			if strings.Join(have, ",") != strings.Join(c.wantNodes, ",") {
				t.Errorf("want nodes %v, have %v", c.wantNodes, have)
			}
		})
	}
	for _, missing := range []string{"go.micro.srv", "go", "a.b.x"} {
		if _, err := r.GetService(testContext(t), missing); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("get %q: want ErrNotFound, have %v", missing, err)
		}
	}
}

func TestNotFoundNamesServiceAndURL(t *testing.T) {
	srv := testenv.NATS(t)
	r := newRegistry(t, srv.URL())
	_, err := r.GetService(testContext(t), "ghost")
	want := `registry: service "ghost" not found in nats at ` + srv.URL()
	if !errors.Is(err, registry.ErrNotFound) || err.Error() != want {
		t.Fatalf("want %q wrapping ErrNotFound, have %v", want, err)
	}
}

// TestHeartbeatIsNoUpdate registers the same record again and again: the
// watcher reports the create, then nothing until the record really changes.
func TestHeartbeatIsNoUpdate(t *testing.T) {
	r := newRegistry(t, testenv.NATS(t).URL())
	w := watch(t, r, registry.WatchService("beat"))
	svc := service("beat", "beat-1", "127.0.0.1:1001")

	register(t, r, svc, registry.WithTTL(time.Minute))
	expect(t, next(t, w, 10*time.Second), registry.EventCreate, "beat", "beat-1")
	for range 5 {
		register(t, r, svc, registry.WithTTL(time.Minute))
	}
	changed := registry.Clone(svc)
	changed.Nodes[0].Metadata["k"] = "changed"
	register(t, r, changed, registry.WithTTL(time.Minute))

	ev := next(t, w, 10*time.Second)
	expect(t, ev, registry.EventUpdate, "beat", "beat-1")
	if ev.Service.Nodes[0].Metadata["k"] != "changed" {
		t.Fatalf("the first event after the heartbeats should be the real update, have %+v", ev.Service.Nodes[0])
	}
}

// TestExpiryEmitsDelete lets a record expire: nothing deletes its key, the
// watcher itself reports the node gone.
func TestExpiryEmitsDelete(t *testing.T) {
	r := newRegistry(t, testenv.NATS(t).URL())
	w := watch(t, r)
	register(t, r, service("brief", "brief-1", "127.0.0.1:1001"), registry.WithTTL(time.Second))
	expect(t, next(t, w, 10*time.Second), registry.EventCreate, "brief", "brief-1")

	start := time.Now()
	ev := next(t, w, 10*time.Second)
	expect(t, ev, registry.EventDelete, "brief", "brief-1")
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("delete came %s after the create, want about the 1s TTL", waited)
	}
}

// TestWatcherKnowsEarlierNodes starts a watch after a node registered: no
// create for it, but its heartbeats stay quiet and its expiry is reported.
func TestWatcherKnowsEarlierNodes(t *testing.T) {
	r := newRegistry(t, testenv.NATS(t).URL())
	svc := service("early", "early-1", "127.0.0.1:1001")
	register(t, r, svc, registry.WithTTL(2*time.Second))

	w := watch(t, r, registry.WatchService("early"))
	register(t, r, svc, registry.WithTTL(2*time.Second)) // heartbeat: no event
	expect(t, next(t, w, 10*time.Second), registry.EventDelete, "early", "early-1")
}

func TestWatchContextEnds(t *testing.T) {
	r := newRegistry(t, testenv.NATS(t).URL())
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := w.Next()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, have %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after the context ended")
	}
}

// TestCloseStopsWatchers closes the registry under a running watch.
func TestCloseStopsWatchers(t *testing.T) {
	srv := testenv.NATS(t)
	r, err := natsregistry.New(testContext(t), natsregistry.WithURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.Watch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("want ErrWatcherStopped after Close, have %v", err)
	}
	if err := r.Register(testContext(t), service("late", "late-1", "127.0.0.1:1")); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("register after Close: want an error saying closed, have %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// freeAddress returns a 127.0.0.1 address where nothing listens.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestUnreachable(t *testing.T) {
	url := "nats://" + freeAddress(t)
	start := time.Now()
	_, err := natsregistry.New(testContext(t), natsregistry.WithURL(url))
	if err == nil {
		t.Fatal("want an error")
	}
	if !errors.Is(err, registry.ErrUnreachable) {
		t.Errorf("want an error wrapping ErrUnreachable, have %v", err)
	}
	want := "nats registry: cannot reach nats at " + url + ": connection refused"
	if err.Error() != want {
		t.Errorf("want %q, have %q", want, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s to fail, want a fast failure", took)
	}
}

func TestUnreachableListRedactsCredentials(t *testing.T) {
	a, b := freeAddress(t), freeAddress(t)
	_, err := natsregistry.New(testContext(t), natsregistry.WithURL("nats://ada:secret@"+a+", "+b))
	if !errors.Is(err, registry.ErrUnreachable) {
		t.Fatalf("want ErrUnreachable, have %v", err)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "ada") {
		t.Errorf("the error shows credentials: %v", err)
	}
	if !strings.Contains(err.Error(), "nats://"+a+",nats://"+b) {
		t.Errorf("the error should name both servers: %v", err)
	}
}

func TestJetStreamNotEnabled(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("plain nats server not ready")
	}
	_, err = natsregistry.New(testContext(t), natsregistry.WithURL(ns.ClientURL()))
	if err == nil || !strings.Contains(err.Error(), "jetstream is not enabled in nats at "+ns.ClientURL()) {
		t.Fatalf("want an error saying jetstream is not enabled, have %v", err)
	}
	if !errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		t.Errorf("want the error to wrap jetstream.ErrJetStreamNotEnabled: %v", err)
	}
}

// TestSurvivesServerRestart stops the server under a registry and starts it
// again on the same port and store: the registry reconnects, finds what was
// registered before and registers again.
func TestSurvivesServerRestart(t *testing.T) {
	srv := testenv.NATS(t)
	r := newRegistry(t, srv.URL(), natsregistry.WithReconnectWait(100*time.Millisecond))
	before := service("phoenix", "phoenix-1", "127.0.0.1:1001")
	register(t, r, before, registry.WithTTL(time.Minute))

	srv.Stop()
	testutil.Eventually(t, 10*time.Second, func() error {
		start := time.Now()
		err := r.Register(testContext(t), before, registry.WithTTL(time.Minute))
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("register with the server down took %s, want a fast failure", took)
		}
		if errors.Is(err, registry.ErrUnreachable) && strings.Contains(err.Error(), srv.URL()) {
			return nil
		}
		return errors.New("register still works, or fails otherwise, with the server down: " + errString(err))
	})

	srv.Restart(t)
	after := service("phoenix", "phoenix-2", "127.0.0.1:1002")
	testutil.Eventually(t, 20*time.Second, func() error {
		return r.Register(testContext(t), after, registry.WithTTL(time.Minute))
	})
	got, err := r.GetService(testContext(t), "phoenix")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Nodes) != 2 {
		t.Fatalf("want both nodes after the restart, have %+v", got)
	}
}

// TestWatchAcrossRestart keeps a watch open while the server restarts: it
// reports a node registered afterwards promptly, on a fresh key watch.
func TestWatchAcrossRestart(t *testing.T) {
	srv := testenv.NATS(t)
	r := newRegistry(t, srv.URL(), natsregistry.WithReconnectWait(100*time.Millisecond))
	w := watch(t, r, registry.WatchService("lazarus"))
	register(t, r, service("lazarus", "lazarus-1", "127.0.0.1:1001"), registry.WithTTL(time.Minute))
	expect(t, next(t, w, 10*time.Second), registry.EventCreate, "lazarus", "lazarus-1")

	srv.Restart(t)
	testutil.Eventually(t, 20*time.Second, func() error {
		return r.Register(testContext(t), service("lazarus", "lazarus-2", "127.0.0.1:1002"), registry.WithTTL(time.Minute))
	})
	expect(t, next(t, w, 10*time.Second), registry.EventCreate, "lazarus", "lazarus-2")
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func TestWithConnIsNotClosed(t *testing.T) {
	srv := testenv.NATS(t)
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r, err := natsregistry.New(testContext(t), natsregistry.WithConn(nc))
	if err != nil {
		t.Fatal(err)
	}
	if want := "nats at " + srv.URL(); r.String() != want {
		t.Errorf("want %q, have %q", want, r.String())
	}
	register(t, r, service("shared", "shared-1", "127.0.0.1:1001"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if nc.IsClosed() {
		t.Fatal("Close closed a connection the registry does not own")
	}
}

func TestNoExpiry(t *testing.T) {
	srv := testenv.NATS(t)
	r := newRegistry(t, srv.URL())
	register(t, r, service("static", "static-1", "127.0.0.1:1001"), registry.NoExpiry())
	got, err := r.GetService(testContext(t), "static")
	if err != nil || len(got) != 1 || got[0].Nodes[0].Health != registry.HealthPassing {
		t.Fatalf("want the static node, passing; have %+v, %v", got, err)
	}
	entry := getEntry(t, srv.URL(), natsregistry.DefaultBucket, "static.static-1")
	if strings.Contains(string(entry.Value()), "expires") {
		t.Errorf("a record without expiry should not store one: %s", entry.Value())
	}
}

func getEntry(t *testing.T, url, bucket, key string) jetstream.KeyValueEntry {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(testContext(t), bucket)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(testContext(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return entry
}

// TestBucketWithMaxAge uses a bucket made elsewhere that drops records by
// age: registrations that would outlive that age are refused.
func TestBucketWithMaxAge(t *testing.T) {
	srv := testenv.NATS(t)
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateKeyValue(testContext(t), jetstream.KeyValueConfig{Bucket: "aged", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	r := newRegistry(t, srv.URL(), natsregistry.WithBucket("aged"))
	if r.Bucket() != "aged" {
		t.Errorf("want bucket aged, have %s", r.Bucket())
	}
	cases := []struct {
		name    string
		opts    []registry.RegisterOption
		wantErr bool
	}{
		{"short ttl", []registry.RegisterOption{registry.WithTTL(time.Minute)}, false},
		{"ttl beyond max age", []registry.RegisterOption{registry.WithTTL(2 * time.Hour)}, true},
		{"no expiry", []registry.RegisterOption{registry.NoExpiry()}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := r.Register(testContext(t), service("aged", "aged-1", "127.0.0.1:1"), c.opts...)
			if c.wantErr != (err != nil) || (err != nil && !errors.Is(err, registry.ErrInvalid)) {
				t.Fatalf("want error %v (ErrInvalid), have %v", c.wantErr, err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name string
		opt  natsregistry.Option
		want string
	}{
		{"empty url", natsregistry.WithURL(" , "), "empty server url"},
		{"nil conn", natsregistry.WithConn(nil), "nil connection"},
		{"dotted bucket", natsregistry.WithBucket("a.b"), `invalid bucket name "a.b"`},
		{"empty bucket", natsregistry.WithBucket(""), `invalid bucket name ""`},
		{"zero timeout", natsregistry.WithConnectTimeout(0), "connect timeout must be positive"},
		{"negative reconnect wait", natsregistry.WithReconnectWait(-time.Second), "reconnect wait must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := natsregistry.New(testContext(t), c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, have %v", c.want, err)
			}
		})
	}
}
