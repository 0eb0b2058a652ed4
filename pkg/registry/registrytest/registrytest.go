// Package registrytest is the contract every registry backend passes: the same
// cases run against memory, NATS, Consul and etcd.
package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
)

// Run runs the contract against registries made by newRegistry. Each case
// uses service names of its own, so the backend may be shared between cases.
func Run(t *testing.T, newRegistry func(t *testing.T) registry.Registry) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, r registry.Registry)
	}{
		{"RegisterGet", testRegisterGet},
		{"TwoNodes", testTwoNodes},
		{"TwoVersions", testTwoVersions},
		{"Deregister", testDeregister},
		{"NotFound", testNotFound},
		{"Invalid", testInvalid},
		{"ListServices", testListServices},
		{"TTLExpires", testTTLExpires},
		{"HeartbeatKeepsAlive", testHeartbeatKeepsAlive},
		{"WatchService", testWatchService},
		{"WatchAll", testWatchAll},
		{"WatchStop", testWatchStop},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newRegistry(t))
		})
	}
}

// UniqueName returns a service name no other case uses.
func UniqueName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func node(id, addr string, md map[string]string) *registry.Node {
	return &registry.Node{ID: id, Address: addr, Metadata: md}
}

func mustRegister(t *testing.T, r registry.Registry, svc *registry.Service, opts ...registry.RegisterOption) {
	t.Helper()
	if err := r.Register(ctx(t), svc, opts...); err != nil {
		t.Fatalf("register %s: %v", svc.Name, err)
	}
	t.Cleanup(func() {
		_ = r.Deregister(context.Background(), svc)
	})
}

func testRegisterGet(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "greeter")
	svc := &registry.Service{
		Name:     name,
		Version:  "1.2.0",
		Metadata: map[string]string{"team": "core"},
		Endpoints: []*registry.Endpoint{{
			Name:     "Greeter.Hello",
			Request:  &registry.Value{Name: "HelloRequest", Type: "HelloRequest"},
			Response: &registry.Value{Name: "HelloResponse", Type: "HelloResponse"},
			Metadata: map[string]string{"stream": "false"},
		}},
		Nodes: []*registry.Node{node(name+"-1", "127.0.0.1:50051", map[string]string{"zone": "a", "path": "/x y=z"})},
	}
	mustRegister(t, r, svc)

	got, err := r.GetService(ctx(t), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	if len(got) != 1 {
		t.Fatalf("want 1 record, have %d", len(got))
	}
	have := got[0]
	if have.Name != name || have.Version != "1.2.0" {
		t.Errorf("want %s 1.2.0, have %s %s", name, have.Name, have.Version)
	}
	if len(have.Nodes) != 1 {
		t.Fatalf("want 1 node, have %d", len(have.Nodes))
	}
	n := have.Nodes[0]
	if n.ID != name+"-1" || n.Address != "127.0.0.1:50051" {
		t.Errorf("want node %s-1 at 127.0.0.1:50051, have %s at %s", name, n.ID, n.Address)
	}
	for k, v := range map[string]string{"zone": "a", "path": "/x y=z"} {
		if n.Metadata[k] != v {
			t.Errorf("node metadata %q: want %q, have %q (all: %v)", k, v, n.Metadata[k], n.Metadata)
		}
	}
	if n.Health != registry.HealthPassing {
		t.Errorf("want health %q, have %q", registry.HealthPassing, n.Health)
	}
	if have.Metadata["team"] != "core" {
		t.Errorf("service metadata: want team=core, have %v", have.Metadata)
	}
	if len(have.Endpoints) != 1 || have.Endpoints[0].Name != "Greeter.Hello" ||
		have.Endpoints[0].Request == nil || have.Endpoints[0].Request.Name != "HelloRequest" ||
		have.Endpoints[0].Metadata["stream"] != "false" {
		t.Errorf("endpoints did not round-trip: %+v", have.Endpoints)
	}
}

func testTwoNodes(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "pair")
	mustRegister(t, r, &registry.Service{Name: name, Version: "v1", Nodes: []*registry.Node{node(name+"-a", "127.0.0.1:1001", nil)}})
	mustRegister(t, r, &registry.Service{Name: name, Version: "v1", Nodes: []*registry.Node{node(name+"-b", "127.0.0.1:1002", nil)}})

	got, err := r.GetService(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Nodes) != 2 {
		t.Fatalf("want one record with 2 nodes, have %s", describe(got))
	}
	if got[0].Nodes[0].ID != name+"-a" || got[0].Nodes[1].ID != name+"-b" {
		t.Errorf("want nodes sorted by id, have %s", describe(got))
	}
}

func testTwoVersions(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "versions")
	mustRegister(t, r, &registry.Service{Name: name, Version: "v1", Nodes: []*registry.Node{node(name+"-1", "127.0.0.1:1001", nil)}})
	mustRegister(t, r, &registry.Service{Name: name, Version: "v2", Nodes: []*registry.Node{node(name+"-2", "127.0.0.1:1002", nil)}})

	got, err := r.GetService(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != "v1" || got[1].Version != "v2" {
		t.Fatalf("want records v1 and v2, have %s", describe(got))
	}
}

func testDeregister(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "dereg")
	a := &registry.Service{Name: name, Nodes: []*registry.Node{node(name+"-a", "127.0.0.1:1001", nil)}}
	b := &registry.Service{Name: name, Nodes: []*registry.Node{node(name+"-b", "127.0.0.1:1002", nil)}}
	mustRegister(t, r, a)
	mustRegister(t, r, b)

	if err := r.Deregister(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetService(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Nodes) != 1 || got[0].Nodes[0].ID != name+"-b" {
		t.Fatalf("want only node b, have %s", describe(got))
	}
	if err := r.Deregister(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService(ctx(t), name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("after deregistering every node: want ErrNotFound, have %v", err)
	}
}

func testNotFound(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "missing")
	_, err := r.GetService(ctx(t), name)
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("want ErrNotFound, have %v", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("the error should name the service: %v", err)
	}
}

func testInvalid(t *testing.T, r registry.Registry) {
	for _, svc := range []*registry.Service{
		{Name: "", Nodes: []*registry.Node{node("x", "127.0.0.1:1", nil)}},
		{Name: "no-nodes"},
		{Name: "no-address", Nodes: []*registry.Node{node("x", "", nil)}},
		{Name: "no-id", Nodes: []*registry.Node{node("", "127.0.0.1:1", nil)}},
	} {
		if err := r.Register(ctx(t), svc); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("register %+v: want ErrInvalid, have %v", svc, err)
		}
	}
}

func testListServices(t *testing.T, r registry.Registry) {
	a, b := UniqueName(t, "list-a"), UniqueName(t, "list-b")
	mustRegister(t, r, &registry.Service{Name: a, Version: "1", Nodes: []*registry.Node{node(a+"-1", "127.0.0.1:1001", nil), node(a+"-2", "127.0.0.1:1002", nil)}})
	mustRegister(t, r, &registry.Service{Name: b, Version: "2", Nodes: []*registry.Node{node(b+"-1", "127.0.0.1:1003", nil)}})

	got, err := r.ListServices(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]int{}
	for _, svc := range got {
		nodes[svc.Name] += len(svc.Nodes)
		for _, n := range svc.Nodes {
			if n.Health == "" {
				t.Errorf("ListServices should set health: %s node %s", svc.Name, n.ID)
			}
		}
	}
	if nodes[a] != 2 || nodes[b] != 1 {
		t.Fatalf("want %s with 2 nodes and %s with 1, have %v", a, b, nodes)
	}
}

func testTTLExpires(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "ttl")
	mustRegister(t, r, &registry.Service{Name: name, Nodes: []*registry.Node{node(name+"-1", "127.0.0.1:1001", nil)}}, registry.WithTTL(time.Second))
	if _, err := r.GetService(ctx(t), name); err != nil {
		t.Fatalf("just registered: %v", err)
	}
	// Within a second or two as a rule. The bound allows for Consul, whose
	// agent marks the check critical at once but tells the catalog by
	// anti-entropy, which retries a failed sync only after 15 s: on a
	// loaded CI machine one sync was seen to wait that long.
	testutil.Eventually(t, 35*time.Second, func() error {
		got, err := r.GetService(ctx(t), name)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("still registered after its TTL: %s (err %v)", describe(got), err)
	})
}

func testHeartbeatKeepsAlive(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "beat")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{node(name+"-1", "127.0.0.1:1001", nil)}}
	mustRegister(t, r, svc, registry.WithTTL(2*time.Second))
	until := time.Now().Add(5 * time.Second)
	for time.Now().Before(until) {
		time.Sleep(500 * time.Millisecond)
		if err := r.Register(ctx(t), svc, registry.WithTTL(2*time.Second)); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		if _, err := r.GetService(ctx(t), name); err != nil {
			t.Fatalf("lost while heartbeating: %v", err)
		}
	}
}

// NextEvent returns the next event about service name, skipping events of
// other services; it fails the test when none comes within 20 seconds.
func NextEvent(t *testing.T, w registry.Watcher, name string) *registry.Event {
	t.Helper()
	type result struct {
		ev  *registry.Event
		err error
	}
	ch := make(chan result, 1)
	go func() {
		for {
			ev, err := w.Next()
			if err != nil || ev.Service.Name == name {
				ch <- result{ev, err}
				return
			}
		}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("watch: %v", res.err)
		}
		return res.ev
	case <-time.After(20 * time.Second):
		t.Fatalf("no event for %s within 20s", name)
		return nil
	}
}

func expectEvent(t *testing.T, w registry.Watcher, name string, want registry.EventType, nodeID string) {
	t.Helper()
	ev := NextEvent(t, w, name)
	if ev.Type != want || len(ev.Service.Nodes) != 1 || ev.Service.Nodes[0].ID != nodeID {
		t.Fatalf("want %s of %s node %s, have %s of %s", want, name, nodeID, ev.Type, describe([]*registry.Service{ev.Service}))
	}
}

func testWatchService(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "watched")
	w, err := r.Watch(ctx(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	svc := &registry.Service{Name: name, Version: "1", Nodes: []*registry.Node{node(name+"-1", "127.0.0.1:1001", map[string]string{"k": "v"})}}
	mustRegister(t, r, svc)
	expectEvent(t, w, name, registry.EventCreate, name+"-1")

	changed := registry.Clone(svc)
	changed.Nodes[0].Metadata["k"] = "changed"
	mustRegister(t, r, changed)
	expectEvent(t, w, name, registry.EventUpdate, name+"-1")

	if err := r.Deregister(ctx(t), svc); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, name, registry.EventDelete, name+"-1")
}

func testWatchAll(t *testing.T, r registry.Registry) {
	name := UniqueName(t, "watchall")
	w, err := r.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	svc := &registry.Service{Name: name, Nodes: []*registry.Node{node(name+"-1", "127.0.0.1:1001", nil)}}
	mustRegister(t, r, svc)
	expectEvent(t, w, name, registry.EventCreate, name+"-1")
	if err := r.Deregister(ctx(t), svc); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, name, registry.EventDelete, name+"-1")
}

func testWatchStop(t *testing.T, r registry.Registry) {
	w, err := r.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := w.Next(); err != nil {
				done <- err
				return
			}
		}
	}()
	w.Stop()
	w.Stop() // a second Stop is harmless
	select {
	case err := <-done:
		if !errors.Is(err, registry.ErrWatcherStopped) {
			t.Fatalf("want ErrWatcherStopped, have %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after Stop")
	}
}

func describe(services []*registry.Service) string {
	var b strings.Builder
	for _, svc := range services {
		fmt.Fprintf(&b, "[%s %s md=%v nodes:", svc.Name, svc.Version, svc.Metadata)
		for _, n := range svc.Nodes {
			fmt.Fprintf(&b, " %s@%s(%s)%v", n.ID, n.Address, n.Health, maps.Collect(maps.All(n.Metadata)))
		}
		b.WriteString("]")
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}
