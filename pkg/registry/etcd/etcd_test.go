package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/etcd"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newRegistry(t *testing.T, addr string, opts ...etcd.Option) *etcd.Registry {
	t.Helper()
	r, err := etcd.New(testContext(t), append([]etcd.Option{etcd.WithEndpoints(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// rawClient is a plain etcd client, to write and read keys without this
// package, as other frameworks do.
func rawClient(t *testing.T, addr string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func put(t *testing.T, c *clientv3.Client, key, value string) {
	t.Helper()
	if _, err := c.Put(testContext(t), key, value); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	t.Cleanup(func() { _, _ = c.Delete(context.Background(), key) })
}

func TestContract(t *testing.T) {
	server := testenv.Etcd(t)
	t.Logf("etcd: %s", server.EtcdVersion())
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newRegistry(t, server.Addr())
	})
}

// TestContractMicroLayoutOnly runs the contract with only micro's own
// layout read, where no key outside its prefix is looked at.
func TestContractMicroLayoutOnly(t *testing.T) {
	server := testenv.Etcd(t)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newRegistry(t, server.Addr(), etcd.WithLayouts(etcd.LayoutMicro))
	})
}

// TestStoredRecord: micro's record is the JSON single-node record under
// /micro/services/<service>/<node>, on a lease of the TTL.
func TestStoredRecord(t *testing.T) {
	server := testenv.Etcd(t)
	r := newRegistry(t, server.Addr())
	raw := rawClient(t, server.Addr())
	name := registrytest.UniqueName(t, "stored")
	svc := &registry.Service{Name: name, Version: "1", Nodes: []*registry.Node{{ID: "n/1", Address: "127.0.0.1:1", Metadata: map[string]string{"k": "v"}}}}
	if err := r.Register(testContext(t), svc, registry.WithTTL(7*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })
	key := "/micro/services/" + name + "/n%2F1"
	resp, err := raw.Get(testContext(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("want one key %s, have %d", key, len(resp.Kvs))
	}
	kv := resp.Kvs[0]
	if !strings.Contains(string(kv.Value), `"id":"n/1"`) || strings.Contains(string(kv.Value), etcd.MetadataLayout) {
		t.Errorf("stored value: %s", kv.Value)
	}
	ttl, err := raw.TimeToLive(testContext(t), clientv3.LeaseID(kv.Lease))
	if err != nil {
		t.Fatal(err)
	}
	if ttl.GrantedTTL != 7 {
		t.Errorf("want a lease of 7s, have %ds", ttl.GrantedTTL)
	}

	// A heartbeat keeps the same lease.
	if err := r.Register(testContext(t), svc, registry.WithTTL(7*time.Second)); err != nil {
		t.Fatal(err)
	}
	again, err := raw.Get(testContext(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if again.Kvs[0].Lease != kv.Lease || again.Kvs[0].ModRevision != kv.ModRevision {
		t.Errorf("a heartbeat rewrote the key: lease %x -> %x, revision %d -> %d", kv.Lease, again.Kvs[0].Lease, kv.ModRevision, again.Kvs[0].ModRevision)
	}

	// Someone deletes the key: the next heartbeat puts it back.
	if _, err := raw.Delete(testContext(t), key); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(testContext(t), svc, registry.WithTTL(7*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := r.GetService(testContext(t), name); err != nil || got[0].Nodes[0].Metadata[etcd.MetadataLayout] != "micro" {
		t.Fatalf("after the key was deleted, a heartbeat should register again: %v %v", got, err)
	}

	// NoExpiry: no lease.
	manual := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "manual", Address: "127.0.0.1:2"}}}
	if err := r.Register(testContext(t), manual, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), manual) })
	m, err := raw.Get(testContext(t), "/micro/services/"+name+"/manual")
	if err != nil || len(m.Kvs) != 1 || m.Kvs[0].Lease != 0 {
		t.Fatalf("want the manual node without a lease: %v %v", m, err)
	}
}

// TestReregisterAfterWipe: etcd restarted with its data wiped loses every
// lease and revision. A watch started before notices that etcd's history
// went back: it reads everything again and reports the node gone; the next
// heartbeat registers in full and the watch reports the node again.
func TestReregisterAfterWipe(t *testing.T) {
	server := testenv.Etcd(t)
	r := newRegistry(t, server.Addr())
	watching := newRegistry(t, server.Addr(), etcd.WithProgressInterval(300*time.Millisecond))
	name := registrytest.UniqueName(t, "wipe")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: name + "-1", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), svc, registry.WithTTL(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Make the revision large, so that the wiped etcd is behind it.
	raw := rawClient(t, server.Addr())
	for i := 0; i < 50; i++ {
		put(t, raw, fmt.Sprintf("/other/%d", i), "x")
	}
	w, err := watching.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	server.Restart(t, true)
	// Nothing is written until the watch has seen the wipe: the node is
	// gone with it, and only a watch that read everything again can say so.
	if ev := registrytest.NextEvent(t, w, name); ev.Type != registry.EventDelete {
		t.Fatalf("want the node deleted with the wipe, have %s", ev.Type)
	}
	if etcd.Resyncs(watching) == 0 {
		t.Error("the watch reported a delete without reading everything again")
	}
	// The next heartbeat finds its lease gone and registers in full.
	testutil.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return r.Register(ctx, svc, registry.WithTTL(5*time.Second))
	})
	if ev := registrytest.NextEvent(t, w, name); ev.Type != registry.EventCreate {
		t.Fatalf("want the node created again by the heartbeat, have %s", ev.Type)
	}
	// And the watch goes on: a deregistration is seen.
	if err := r.Deregister(testContext(t), svc); err != nil {
		t.Fatal(err)
	}
	if ev := registrytest.NextEvent(t, w, name); ev.Type != registry.EventDelete {
		t.Fatalf("want delete after deregister, have %s", ev.Type)
	}
}

// TestWatchAfterWipeHeartbeatFirst: the other order. The watch is cut off
// while etcd is wiped and the heartbeat registers the node again, so when
// the watch comes back the node is there as before: it reads everything
// again, reports nothing (nothing changed for it), and goes on from the new
// history, where the old revision means nothing.
func TestWatchAfterWipeHeartbeatFirst(t *testing.T) {
	server := testenv.Etcd(t)
	p := newProxy(t, server.Addr())
	r := newRegistry(t, server.Addr())
	watching := newRegistry(t, p.Addr(), etcd.WithProgressInterval(300*time.Millisecond))
	name := registrytest.UniqueName(t, "wipefirst")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "beating", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), svc, registry.WithTTL(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, server.Addr())
	for i := 0; i < 50; i++ {
		put(t, raw, fmt.Sprintf("/other/%d", i), "x")
	}
	w, err := watching.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	p.pause()
	server.Restart(t, true)
	testutil.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return r.Register(ctx, svc, registry.WithTTL(10*time.Second))
	})
	p.resume()
	testutil.Eventually(t, 20*time.Second, func() error {
		if etcd.Resyncs(watching) == 0 {
			return errors.New("the watch has not read everything again since the wipe")
		}
		return nil
	})
	// The first event is the one caused next, not a stale one of the node.
	late := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "late", Address: "127.0.0.1:2"}}}
	if err := r.Register(testContext(t), late, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), late) })
	if ev := registrytest.NextEvent(t, w, name); ev.Type != registry.EventCreate || ev.Service.Nodes[0].ID != "late" {
		t.Fatalf("want create of late, have %s %+v", ev.Type, ev.Service.Nodes[0])
	}
	if err := r.Deregister(testContext(t), svc); err != nil {
		t.Fatal(err)
	}
	if ev := registrytest.NextEvent(t, w, name); ev.Type != registry.EventDelete || ev.Service.Nodes[0].ID != "beating" {
		t.Fatalf("want delete of beating, have %s %+v", ev.Type, ev.Service.Nodes[0])
	}
}

// TestWatchAnotherCluster: the address a watch follows comes to lead to
// another etcd cluster, further in its own history than the watch got in
// the first one. Only the cluster ID tells: the watch reads everything
// again and reports what the other cluster holds, including a record
// written there below the watch's revision, which resuming would skip.
func TestWatchAnotherCluster(t *testing.T) {
	first, second := testenv.Etcd(t), testenv.Etcd(t)
	p := newProxy(t, first.Addr())
	r := newRegistry(t, p.Addr(), etcd.WithProgressInterval(300*time.Millisecond))
	name := registrytest.UniqueName(t, "moved")
	old := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "old", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), old, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	firstRaw, secondRaw := rawClient(t, first.Addr()), rawClient(t, second.Addr())
	for i := 0; i < 10; i++ {
		put(t, firstRaw, fmt.Sprintf("/other/%d", i), "x")
	}
	w, err := r.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	// The second cluster: the record first, at a revision the watch has
	// passed in the first, then enough writes to be ahead of it.
	put(t, secondRaw, "/micro/services/"+name+"/new", fmt.Sprintf(`{"name":%q,"nodes":[{"id":"new","address":"127.0.0.1:2"}]}`, name))
	for i := 0; i < 30; i++ {
		put(t, secondRaw, fmt.Sprintf("/other/%d", i), "x")
	}
	firstRev, err := firstRaw.Get(testContext(t), "x", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	secondRev, err := secondRaw.Get(testContext(t), "x", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if secondRev.Header.Revision <= firstRev.Header.Revision || secondRev.Header.ClusterId == firstRev.Header.ClusterId {
		t.Fatalf("the second cluster must be ahead and another: revision %d vs %d, cluster %x vs %x",
			secondRev.Header.Revision, firstRev.Header.Revision, secondRev.Header.ClusterId, firstRev.Header.ClusterId)
	}

	p.pause()
	p.retarget(second.Addr())
	p.resume()
	seen := map[string]registry.EventType{}
	for len(seen) < 2 {
		ev := registrytest.NextEvent(t, w, name)
		seen[ev.Service.Nodes[0].ID] = ev.Type
	}
	if seen["new"] != registry.EventCreate || seen["old"] != registry.EventDelete {
		t.Fatalf("want new created and old deleted, have %v", seen)
	}
	if etcd.Resyncs(r) == 0 {
		t.Error("the watch did not read everything again")
	}
}

// TestWatchResumesAfterRestart: etcd stopped and started with its data: the
// watch resumes from its revision and misses nothing written while it was
// reconnecting.
func TestWatchResumesAfterRestart(t *testing.T) {
	server := testenv.Etcd(t)
	r := newRegistry(t, server.Addr())
	name := registrytest.UniqueName(t, "resume")
	w, err := r.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	server.Stop()
	server.Start(t)
	// Written by another client as soon as etcd is back, before this
	// registry's watch may have reconnected.
	raw := rawClient(t, server.Addr())
	for i := 1; i <= 3; i++ {
		put(t, raw, fmt.Sprintf("/micro/services/%s/n%d", name, i),
			fmt.Sprintf(`{"name":%q,"version":"1","nodes":[{"id":"n%d","address":"127.0.0.1:%d"}]}`, name, i, i))
	}
	seen := map[string]bool{}
	for len(seen) < 3 {
		ev := registrytest.NextEvent(t, w, name)
		if ev.Type != registry.EventCreate {
			t.Fatalf("want create events, have %s", ev.Type)
		}
		seen[ev.Service.Nodes[0].ID] = true
	}
}

// TestWatchResumesAfterDisconnect: the connection to etcd is cut while
// records are written; the watch resumes from its revision (it reads
// nothing again) and reports each of them.
func TestWatchResumesAfterDisconnect(t *testing.T) {
	server := testenv.Etcd(t)
	p := newProxy(t, server.Addr())
	r := newRegistry(t, p.Addr(), etcd.WithProgressInterval(200*time.Millisecond))
	raw := rawClient(t, server.Addr())
	name := registrytest.UniqueName(t, "cut")
	w, err := r.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	p.pause()
	for i := 1; i <= 3; i++ {
		put(t, raw, fmt.Sprintf("/micro/services/%s/n%d", name, i),
			fmt.Sprintf(`{"name":%q,"nodes":[{"id":"n%d","address":"127.0.0.1:%d"}]}`, name, i, i))
	}
	time.Sleep(500 * time.Millisecond) // the watch notices the cut
	p.resume()
	for i := 1; i <= 3; i++ {
		ev := registrytest.NextEvent(t, w, name)
		if ev.Type != registry.EventCreate || ev.Service.Nodes[0].ID != fmt.Sprintf("n%d", i) {
			t.Fatalf("want create of n%d, have %s %+v", i, ev.Type, ev.Service.Nodes[0])
		}
	}
	if n := etcd.Resyncs(r); n != 0 {
		t.Errorf("the watch read everything again %d times; it should have resumed from its revision", n)
	}
}

// TestWatchCompacted: while the connection is cut, a record is written and
// etcd's history compacted past the watch's revision; the watch reads
// everything again and reports the difference.
func TestWatchCompacted(t *testing.T) {
	server := testenv.Etcd(t)
	p := newProxy(t, server.Addr())
	r := newRegistry(t, p.Addr())
	raw := rawClient(t, server.Addr())
	name := registrytest.UniqueName(t, "compact")
	gone := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "gone", Address: "127.0.0.1:9"}}}
	if err := r.Register(testContext(t), gone, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	w, err := r.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	p.pause()
	put(t, raw, "/micro/services/"+name+"/n1", fmt.Sprintf(`{"name":%q,"nodes":[{"id":"n1","address":"127.0.0.1:1"}]}`, name))
	del, err := raw.Delete(testContext(t), "/micro/services/"+name+"/gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Compact(testContext(t), del.Header.Revision); err != nil {
		t.Fatal(err)
	}
	p.resume()
	ev := registrytest.NextEvent(t, w, name)
	if ev.Type != registry.EventCreate || ev.Service.Nodes[0].ID != "n1" {
		t.Fatalf("want create of n1, have %s %+v", ev.Type, ev.Service.Nodes)
	}
	ev = registrytest.NextEvent(t, w, name)
	if ev.Type != registry.EventDelete || ev.Service.Nodes[0].ID != "gone" {
		t.Fatalf("want delete of gone, have %s %+v", ev.Type, ev.Service.Nodes)
	}
	if etcd.Resyncs(r) == 0 {
		t.Error("the watch resumed from a compacted revision without reading everything again")
	}
}

func TestCluster(t *testing.T) {
	server := testenv.Etcd(t)
	dead := freeAddr(t)
	// One member down, one up: the registry works through the live one.
	r := newRegistry(t, dead+","+server.Addr())
	if have := r.String(); have != "etcd at "+dead+","+server.Addr() {
		t.Errorf("String: %q", have)
	}
	name := registrytest.UniqueName(t, "cluster")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "1", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })
	if _, err := r.GetService(testContext(t), name); err != nil {
		t.Fatal(err)
	}
}

// TestRealCluster: a registry given the three members of a cluster goes on
// registering, heartbeating and watching while any one member is down.
func TestRealCluster(t *testing.T) {
	cluster := testenv.NewEtcdCluster(t, 3)
	r := newRegistry(t, cluster.Addrs(), etcd.WithProgressInterval(500*time.Millisecond))
	name := registrytest.UniqueName(t, "ha")
	w, err := r.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "beating", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), svc, registry.WithTTL(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	registrytest.NextEvent(t, w, name)

	for i, member := range cluster.Members {
		member.Stop()
		// The heartbeat goes on through the others.
		testutil.Eventually(t, 15*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return r.Register(ctx, svc, registry.WithTTL(5*time.Second))
		})
		node := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: fmt.Sprintf("n%d", i), Address: "127.0.0.1:2"}}}
		testutil.Eventually(t, 15*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return r.Register(ctx, node, registry.NoExpiry())
		})
		ev := registrytest.NextEvent(t, w, name)
		if ev.Type != registry.EventCreate || ev.Service.Nodes[0].ID != node.Nodes[0].ID {
			t.Fatalf("member %d down: want create of %s, have %s %+v", i, node.Nodes[0].ID, ev.Type, ev.Service.Nodes[0])
		}
		member.Start(t)
	}
	got, err := r.GetService(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got[0].Nodes); n != 4 {
		t.Errorf("want the heartbeating node and 3 more, have %d", n)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachable(t *testing.T) {
	addr := freeAddr(t)
	start := time.Now()
	_, err := etcd.New(context.Background(), etcd.WithEndpoints(addr))
	took := time.Since(start)
	if !errors.Is(err, registry.ErrUnreachable) {
		t.Fatalf("want ErrUnreachable, have %v", err)
	}
	for _, want := range []string{addr, "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error should say %q: %v", want, err)
		}
	}
	if took > 2*time.Second {
		t.Errorf("took %s to report a refused connection", took)
	}
}

func TestAuth(t *testing.T) {
	server := testenv.Etcd(t)
	server.EnableAuth(t, "s3cret")

	r := newRegistry(t, server.Addr(), etcd.WithAuth("root", "s3cret"))
	name := registrytest.UniqueName(t, "auth")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "1", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), svc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService(testContext(t), name); err != nil {
		t.Fatal(err)
	}

	_, err := etcd.New(testContext(t), etcd.WithEndpoints(server.Addr()), etcd.WithAuth("root", "wrong"))
	if !errors.Is(err, etcd.ErrAuth) || !strings.Contains(err.Error(), server.Addr()) || !strings.Contains(err.Error(), `"root"`) {
		t.Errorf("wrong password: want ErrAuth naming the user and address, have %v", err)
	}

	anonymous := newRegistry(t, server.Addr())
	_, err = anonymous.ListServices(testContext(t))
	if !errors.Is(err, etcd.ErrAuth) || !strings.Contains(err.Error(), "no user") {
		t.Errorf("no credentials: want ErrAuth saying no user was given, have %v", err)
	}
}

func TestTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	server := testenv.EtcdTLS(t, pki)
	r := newRegistry(t, "https://"+server.Addr(), etcd.WithTLS(etcd.TLSOptions{CAFile: pki.CAFile}))
	name := registrytest.UniqueName(t, "tls")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "1", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), svc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService(testContext(t), name); err != nil {
		t.Fatal(err)
	}
	// Without the CA the handshake fails, quickly and saying so.
	start := time.Now()
	_, err := etcd.New(testContext(t), etcd.WithEndpoints("https://"+server.Addr()))
	if !errors.Is(err, registry.ErrUnreachable) || !strings.Contains(err.Error(), server.Addr()) || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("want an error naming %s and the unknown CA, have %v", server.Addr(), err)
	}
	// Reported by the handshake, not by the end of the 30s context: a
	// generous bound, since a loaded machine with the race detector is
	// slow.
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("a TLS failure took %s to report: it waited for the deadline instead of the handshake's error", took)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	server := testenv.EtcdMutualTLS(t, pki)
	r := newRegistry(t, server.Addr(), etcd.WithTLS(etcd.TLSOptions{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}))
	if _, err := r.ListServices(testContext(t)); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	_, err := etcd.New(testContext(t), etcd.WithEndpoints(server.Addr()), etcd.WithTLS(etcd.TLSOptions{CAFile: pki.CAFile}))
	if err == nil || !strings.Contains(err.Error(), server.Addr()) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without a client certificate: want an error naming %s and the certificate, have %v", server.Addr(), err)
	}
}

// syncErrors collects what OnError is told.
type syncErrors struct {
	mu   sync.Mutex
	errs []error
}

func (s *syncErrors) add(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *syncErrors) all() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// TestCloseLeavesNoGoroutines: Close stops the watches and the client.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	server := testenv.Etcd(t)
	before := runtime.NumGoroutine()
	r, err := etcd.New(testContext(t), etcd.WithEndpoints(server.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := r.Watch(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.ListServices(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if now := runtime.NumGoroutine(); now > before {
			return fmt.Errorf("%d goroutines after Close, %d before New", now, before)
		}
		return nil
	})
	if _, err := r.ListServices(testContext(t)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after Close: want an error saying the registry is closed, have %v", err)
	}
}
