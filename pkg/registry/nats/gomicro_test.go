package nats_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/mucp"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// goMicroService starts the mucp fixture, which stands in for a go-micro
// service with NATS as its registry (see internal/mucp), answering queries
// on url until the test ends.
func goMicroService(t *testing.T, url, name string) *mucp.Server {
	t.Helper()
	srv, err := mucp.Listen(name, "1.0.0", "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := srv.ServeNATSRegistry(ctx, nc); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestGoMicroServicesAreListedAndFound(t *testing.T) {
	ns := testenv.NATS(t)
	r := newRegistry(t, ns.URL())
	register(t, r, service("billing", "billing-1", "127.0.0.1:7001"))
	srv := goMicroService(t, ns.URL(), "legacy")

	services, err := r.ListServices(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*registry.Service{}
	for _, svc := range services {
		byName[svc.Name] = svc
	}
	legacy := byName["legacy"]
	if legacy == nil || byName["billing"] == nil {
		t.Fatalf("want billing (bucket) and legacy (go-micro), have %v", names(services))
	}
	if len(legacy.Nodes) != 1 || legacy.Nodes[0].Address != srv.Addr() || legacy.Nodes[0].Metadata["protocol"] != "mucp" {
		t.Fatalf("legacy nodes: %+v", legacy.Nodes)
	}
	if len(legacy.Endpoints) == 0 || legacy.Endpoints[0].Name != "Greeter.Hello" {
		t.Fatalf("legacy endpoints: %+v", legacy.Endpoints)
	}
	if len(byName["billing"].Nodes) != 1 {
		t.Fatalf("billing is in the bucket and answers queries: it must be listed once, have %+v", byName["billing"].Nodes)
	}

	got, err := r.GetService(testContext(t), "legacy")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Nodes[0].ID != srv.NodeID {
		t.Fatalf("GetService(legacy): %+v", got)
	}
	if _, err := r.GetService(testContext(t), "nobody"); err == nil {
		t.Fatal("GetService of an unknown service succeeded")
	}
}

func TestGetServiceDoesNotWaitWhenNobodyAnswers(t *testing.T) {
	ns := testenv.NATS(t)
	r := newRegistry(t, ns.URL(), natsregistry.WithAnswerGoMicro(false), natsregistry.WithQueryTimeout(5*time.Second))
	register(t, r, service("billing", "billing-1", "127.0.0.1:7001"))
	start := time.Now()
	if _, err := r.ListServices(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a list with no go-micro service listening waited %s for the query timeout", took)
	}
}

func TestGetServiceDoesNotWaitWhenTheBucketHasIt(t *testing.T) {
	ns := testenv.NATS(t)
	r := newRegistry(t, ns.URL(), natsregistry.WithQueryTimeout(5*time.Second))
	register(t, r, service("billing", "billing-1", "127.0.0.1:7001")) // answers queries too
	start := time.Now()
	if _, err := r.GetService(testContext(t), "billing"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a get of a service in the bucket waited %s for go-micro answers", took)
	}
}

// goMicroQuery asks as a go-micro client does: a publish on
// micro.nats.query with a reply inbox, the answers collected for timeout.
func goMicroQuery(t *testing.T, url string, query string) []*registry.Service {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	inbox := natsgo.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(natsregistry.QuerySubject, inbox, []byte(query)); err != nil {
		t.Fatal(err)
	}
	var out []*registry.Service
	for {
		m, err := sub.NextMsg(300 * time.Millisecond)
		if err != nil {
			return out
		}
		if m.Header.Get("Micro-Registry") != "kv" {
			t.Errorf("an answer of a Registry without its Micro-Registry header: %s", m.Data)
		}
		var svc registry.Service
		if err := json.Unmarshal(m.Data, &svc); err == nil && svc.Name != "" {
			out = append(out, &svc)
		}
	}
}

// TestOwnAnswersAreSkipped: a Registry's answers to queries carry its
// header, and another Registry takes the nodes of micro's services from
// the bucket alone. Once the bucket lost the record, the answer of the
// registry that registered it is not read back as a go-micro node.
func TestOwnAnswersAreSkipped(t *testing.T) {
	ns := testenv.NATS(t)
	owner := newRegistry(t, ns.URL())
	reader := newRegistry(t, ns.URL())
	register(t, owner, service("billing", "billing-1", "127.0.0.1:7001"))
	if got, err := reader.GetService(testContext(t), "billing"); err != nil || len(got[0].Nodes) != 1 {
		t.Fatalf("want billing's node from the bucket: %v %v", got, err)
	}

	nc, err := natsgo.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(testContext(t), owner.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		if err := kv.Purge(testContext(t), key); err != nil {
			t.Fatal(err)
		}
	}
	if got := goMicroQuery(t, ns.URL(), `{"Action":"list"}`); len(got) != 1 {
		t.Fatalf("the owner should still answer for billing, have %+v", got)
	}
	got, err := reader.GetService(testContext(t), "billing")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("want not found once the bucket lost billing's record, have %v %v", got, err)
	}
}

func TestAnswersGoMicroQueries(t *testing.T) {
	ns := testenv.NATS(t)
	r := newRegistry(t, ns.URL())
	register(t, r, service("billing", "billing-1", "127.0.0.1:7001"))
	register(t, r, service("billing", "billing-2", "127.0.0.1:7002"))
	register(t, r, service("orders", "orders-1", "127.0.0.1:7003"))

	tests := []struct {
		query string
		want  map[string]int // service -> nodes
	}{
		{`{"Service":null,"Action":"list"}`, map[string]int{"billing": 2, "orders": 1}},
		{`{"action":"list"}`, map[string]int{"billing": 2, "orders": 1}},
		{`{"Service":{"name":"billing"},"Action":"get"}`, map[string]int{"billing": 2}},
		{`{"action":"get","service":{"name":"nobody"}}`, map[string]int{}},
		{`{"action":"explode"}`, map[string]int{}},
	}
	for _, tt := range tests {
		have := map[string]int{}
		for _, svc := range goMicroQuery(t, ns.URL(), tt.query) {
			have[svc.Name] += len(svc.Nodes)
		}
		if len(have) != len(tt.want) {
			t.Errorf("%s: want %v, have %v", tt.query, tt.want, have)
			continue
		}
		for name, n := range tt.want {
			if have[name] != n {
				t.Errorf("%s: want %v, have %v", tt.query, tt.want, have)
			}
		}
	}

	if err := r.Deregister(testContext(t), service("orders", "orders-1", "127.0.0.1:7003")); err != nil {
		t.Fatal(err)
	}
	for _, svc := range goMicroQuery(t, ns.URL(), `{"Action":"list"}`) {
		if svc.Name == "orders" {
			t.Fatalf("a deregistered service still answers: %+v", svc)
		}
	}
}

func TestAnswerGoMicroOff(t *testing.T) {
	ns := testenv.NATS(t)
	r := newRegistry(t, ns.URL(), natsregistry.WithAnswerGoMicro(false))
	register(t, r, service("billing", "billing-1", "127.0.0.1:7001"))
	if got := goMicroQuery(t, ns.URL(), `{"Action":"list"}`); len(got) != 0 {
		t.Fatalf("answered with WithAnswerGoMicro(false): %+v", got)
	}
}

func TestWatchSeesGoMicroAnnouncements(t *testing.T) {
	ns := testenv.NATS(t)
	r := newRegistry(t, ns.URL())
	w := watch(t, r, registry.WatchService("legacy"))
	goMicroSrv, err := mucp.Listen("legacy", "1.0.0", "legacy-1", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = goMicroSrv.Close() }()
	nc, err := natsgo.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if err := goMicroSrv.ServeNATSRegistry(ctx, nc); err != nil {
		t.Fatal(err)
	}
	// A service of micro's own is announced too, but its watchers see it
	// in the bucket: one event, not two.
	register(t, r, service("legacy", "legacy-kv", "127.0.0.1:7009"))

	seen := map[string]registry.EventType{}
	for len(seen) < 2 {
		ev := next(t, w, 10*time.Second)
		key := ev.Service.Nodes[0].ID + " " + string(ev.Type)
		if _, dup := seen[key]; dup {
			t.Fatalf("event twice: %s", key)
		}
		seen[key] = ev.Type
	}
	if _, ok := seen["legacy-1 create"]; !ok {
		t.Fatalf("no create event of the go-micro node: %v", seen)
	}
	cancel() // announces "delete"
	ev := next(t, w, 10*time.Second)
	if ev.Type != registry.EventDelete || ev.Service.Nodes[0].ID != "legacy-1" {
		t.Fatalf("want the delete of legacy-1, have %s %s", ev.Type, ev.Service.Nodes[0].ID)
	}
}

func names(services []*registry.Service) []string {
	var out []string
	for _, svc := range services {
		out = append(out, svc.Name)
	}
	return out
}
