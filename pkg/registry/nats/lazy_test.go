package nats_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

// A lazy registry passes the contract that every backend passes.
func TestLazyOpenContract(t *testing.T) {
	srv := testenv.NATS(t)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newRegistry(t, srv.URL(), natsregistry.WithLazyOpen())
	})
}

// With WithLazyOpen, New asks the JetStream API nothing, and a read is one
// request in all: the direct get, with no stream info before it.
func TestLazyOpenReadIsOneRequest(t *testing.T) {
	srv := testenv.NATS(t)
	writer := newRegistry(t, srv.URL())
	register(t, writer, service("greeter", "n1", "127.0.0.1:1"))

	var r *natsregistry.Registry
	if opened := apiRequests(t, srv.URL(), func() { r = newRegistry(t, srv.URL(), natsregistry.WithLazyOpen()) }); len(opened) != 0 {
		t.Errorf("New with WithLazyOpen: want no JetStream requests, have %v", opened)
	}
	var services []*registry.Service
	read := apiRequests(t, srv.URL(), func() {
		var err error
		if services, err = r.GetService(testContext(t), "greeter"); err != nil {
			t.Errorf("get service: %v", err)
		}
	})
	if want := []string{"$JS.API.DIRECT.GET.KV_" + r.Bucket()}; strings.Join(read, " ") != strings.Join(want, " ") {
		t.Errorf("GetService: want the requests %v, have %v", want, read)
	}
	if len(services) != 1 || len(services[0].Nodes) != 1 || services[0].Nodes[0].ID != "n1" {
		t.Errorf("want greeter with n1, have %+v", services)
	}
	if _, err := r.GetService(testContext(t), "missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a service that is not registered: want ErrNotFound, have %v", err)
	}
	if n := r.Replicas(); n != 0 {
		t.Errorf("Replicas before the bucket was opened: want 0, have %d", n)
	}
	// A write opens the bucket (one stream info) and then publishes.
	register(t, r, service("greeter", "n2", "127.0.0.1:2"))
	if n := r.Replicas(); n != 1 {
		t.Errorf("Replicas once a write opened the bucket: want 1, have %d", n)
	}
}

// A lazy registry on a server whose bucket does not exist yet reads
// nothing (the direct get has no responders, the read falls back and
// creates the bucket, as New would have) and registers into it.
func TestLazyOpenMakesTheBucket(t *testing.T) {
	srv := testenv.NATS(t)
	r := newRegistry(t, srv.URL(), natsregistry.WithLazyOpen(), natsregistry.WithBucket("fresh"))
	if _, err := r.GetService(testContext(t), "greeter"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("read of a bucket not made yet: want ErrNotFound, have %v", err)
	}
	_, js := bareJetStream(t, srv.URL())
	if _, err := js.KeyValue(testContext(t), "fresh"); err != nil {
		t.Errorf("the read should have made the bucket: %v", err)
	}
	register(t, r, service("greeter", "n1", "127.0.0.1:1"))
	other := newRegistry(t, srv.URL(), natsregistry.WithLazyOpen(), natsregistry.WithBucket("fresh"))
	services, err := other.GetService(testContext(t), "greeter")
	if err != nil || len(services) != 1 || len(services[0].Nodes) != 1 {
		t.Errorf("want greeter with one node from another lazy registry, have %+v, %v", services, err)
	}
}

// A lazy registry on a server without JetStream connects, and its first
// read and its first write fail with the error New would have given.
func TestLazyOpenJetStreamNotEnabled(t *testing.T) {
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
	r := newRegistry(t, ns.ClientURL(), natsregistry.WithLazyOpen())
	want := "nats registry: jetstream is not enabled in nats at " + ns.ClientURL()
	_, err = r.GetService(testContext(t), "greeter")
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("read: want an error starting %q, have %v", want, err)
	}
	if !errors.Is(err, jetstream.ErrJetStreamNotEnabled) || !errors.Is(err, registry.ErrUnreachable) {
		t.Errorf("read: want the error to wrap jetstream.ErrJetStreamNotEnabled and registry.ErrUnreachable: %v", err)
	}
	err = r.Register(testContext(t), service("greeter", "n1", "127.0.0.1:1"))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("register: want an error starting %q, have %v", want, err)
	}
	if _, err := r.Watch(testContext(t)); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("watch: want an error starting %q, have %v", want, err)
	}
}

// A lazy registry refuses a registration its bucket would drop, as one
// that New opened does.
func TestLazyOpenBucketWithMaxAge(t *testing.T) {
	srv := testenv.NATS(t)
	_, js := bareJetStream(t, srv.URL())
	if _, err := js.CreateKeyValue(testContext(t), jetstream.KeyValueConfig{Bucket: "aged", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	r := newRegistry(t, srv.URL(), natsregistry.WithLazyOpen(), natsregistry.WithBucket("aged"))
	err := r.Register(testContext(t), service("greeter", "n1", "127.0.0.1:1"), registry.WithTTL(2*time.Hour))
	if !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("a ttl past the bucket's max age: want ErrInvalid, have %v", err)
	}
}
