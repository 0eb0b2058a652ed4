package nats_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// apiRequests records the subjects of the JetStream API requests made on
// url while fn runs: a core subscription on $JS.API.> sees each of them.
func apiRequests(t *testing.T, url string, fn func()) []string {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatalf("connect the observer: %v", err)
	}
	t.Cleanup(nc.Close)
	var subjects []string
	done := make(chan struct{})
	sub, err := nc.Subscribe("$JS.API.>", func(m *natsgo.Msg) {
		if m.Subject == "$JS.API.DONE" {
			close(done)
			return
		}
		subjects = append(subjects, m.Subject)
	})
	if err != nil {
		t.Fatalf("subscribe $JS.API.>: %v", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	fn()
	// A marker after fn's requests: the subscription sees messages in order.
	if err := nc.Publish("$JS.API.DONE", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the observer did not see its own marker")
	}
	sort.Strings(subjects)
	return subjects
}

// A read is one JetStream request, a direct get (no consumer made and
// deleted, as a key watch needs), and opening an existing bucket is one
// stream info request; removed nodes are not read back.
func TestReadIsOneDirectGet(t *testing.T) {
	srv := testenv.NATS(t)
	writer := newRegistry(t, srv.URL())
	register(t, writer, service("greeter", "n1", "127.0.0.1:1"))
	register(t, writer, service("greeter", "n2", "127.0.0.1:2"))
	register(t, writer, service("other", "o1", "127.0.0.1:3"))

	var r *natsregistry.Registry
	opened := apiRequests(t, srv.URL(), func() { r = newRegistry(t, srv.URL()) })
	if want := []string{"$JS.API.STREAM.INFO.KV_" + r.Bucket()}; strings.Join(opened, " ") != strings.Join(want, " ") {
		t.Errorf("New: want the requests %v, have %v", want, opened)
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
	if len(services) != 1 || len(services[0].Nodes) != 2 {
		t.Fatalf("want greeter with 2 nodes, have %+v", services)
	}

	if err := writer.Deregister(testContext(t), service("greeter", "n1", "127.0.0.1:1")); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	services, err := r.GetService(testContext(t), "greeter")
	if err != nil {
		t.Fatalf("get service after deregister: %v", err)
	}
	if len(services) != 1 || len(services[0].Nodes) != 1 || services[0].Nodes[0].ID != "n2" {
		t.Errorf("after n1 left, want greeter with n2 only, have %+v", services)
	}
	all, err := r.ListServices(testContext(t))
	if err != nil {
		t.Fatalf("list services: %v", err)
	}
	if len(all) != 2 {
		t.Errorf("want greeter and other, have %d services", len(all))
	}
}

// A bucket whose stream does not allow direct gets is read through a key
// watch instead, with the same answers.
func TestReadWithoutDirectGet(t *testing.T) {
	srv := testenv.NATS(t)
	writer := newRegistry(t, srv.URL())
	register(t, writer, service("greeter", "n1", "127.0.0.1:1"))

	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(testContext(t), "KV_"+writer.Bucket())
	if err != nil {
		t.Fatalf("stream of the bucket: %v", err)
	}
	cfg := stream.CachedInfo().Config
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(testContext(t), cfg); err != nil {
		t.Fatalf("turn direct gets off: %v", err)
	}

	r := newRegistry(t, srv.URL())
	var services []*registry.Service
	read := apiRequests(t, srv.URL(), func() {
		if services, err = r.GetService(testContext(t), "greeter"); err != nil {
			t.Errorf("get service: %v", err)
		}
	})
	if len(services) != 1 || len(services[0].Nodes) != 1 || services[0].Nodes[0].ID != "n1" {
		t.Errorf("want greeter with n1, have %+v", services)
	}
	if !strings.Contains(strings.Join(read, " "), "CONSUMER.CREATE") {
		t.Errorf("want the read to fall back to a key watch (a consumer), have the requests %v", read)
	}
}
