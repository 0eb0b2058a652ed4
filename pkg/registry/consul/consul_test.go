package consul_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/consul"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

func newRegistry(t *testing.T, addr string) *consul.Registry {
	t.Helper()
	r, err := consul.New(consul.Address(addr))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// apiClient is a plain Consul client for the agent, to write and read
// registrations without this package.
func apiClient(t *testing.T, addr string) *api.Client {
	t.Helper()
	client, err := api.NewClient(&api.Config{Address: addr, Scheme: "http"})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func TestContract(t *testing.T) {
	agent := testenv.Consul(t)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newRegistry(t, agent.Addr())
	})
}

func TestString(t *testing.T) {
	r := newRegistry(t, "127.0.0.1:8500")
	if have, want := r.String(), "consul at 127.0.0.1:8500"; have != want {
		t.Errorf("want %q, have %q", want, have)
	}
}

// goMicroTag encodes data as go-micro's consul registry does.
func goMicroTag(t *testing.T, prefix string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(buf.Bytes())
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func registerWithAPI(t *testing.T, client *api.Client, reg *api.AgentServiceRegistration) {
	t.Helper()
	if err := client.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("register %s with the consul api: %v", reg.ID, err)
	}
	t.Cleanup(func() { _ = client.Agent().ServiceDeregister(reg.ID) })
}

// TestReadsOthers reads registrations this package did not write: go-micro's
// tags (current and legacy encodings) and a plain Consul registration.
func TestReadsOthers(t *testing.T) {
	agent := testenv.Consul(t)
	client := apiClient(t, agent.Addr())
	r := newRegistry(t, agent.Addr())

	endpoint := map[string]any{
		"name":     "Greeter.Hello",
		"request":  map[string]any{"name": "Request", "type": "Request", "values": []any{map[string]any{"name": "name", "type": "string"}}},
		"response": map[string]any{"name": "Response", "type": "Response"},
		"metadata": map[string]string{"stream": "false"},
	}
	goMicro := registrytest.UniqueName(t, "gomicro")
	registerWithAPI(t, client, &api.AgentServiceRegistration{
		ID: goMicro + "-1", Name: goMicro, Address: "127.0.0.1", Port: 9091,
		Tags: []string{
			goMicroTag(t, "t-", jsonOf(t, map[string]string{"registry": "consul"})),
			goMicroTag(t, "t-", jsonOf(t, map[string]string{"protocol": "grpc"})),
			goMicroTag(t, "e-", jsonOf(t, endpoint)),
			goMicroTag(t, "v-", []byte("latest")),
		},
	})
	registerWithAPI(t, client, &api.AgentServiceRegistration{
		ID: goMicro + "-legacy", Name: goMicro, Address: "127.0.0.1", Port: 9092,
		Tags: []string{
			"t=" + string(jsonOf(t, map[string]string{"registry": "consul"})),
			"e=" + string(jsonOf(t, endpoint)),
			"v=latest",
		},
	})

	plain := registrytest.UniqueName(t, "plain")
	registerWithAPI(t, client, &api.AgentServiceRegistration{
		ID: plain + "-1", Name: plain, Port: 8080, // no address: the node's
		Tags: []string{"primary", "v1"},
		Meta: map[string]string{"version": "2.0", "zone": "b"},
	})

	t.Run("go-micro", func(t *testing.T) {
		got, err := r.GetService(testContext(t), goMicro)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Version != "latest" || len(got[0].Nodes) != 2 {
			t.Fatalf("want one version latest with 2 nodes, have %s", jsonOf(t, got))
		}
		for _, node := range got[0].Nodes {
			if node.Metadata["registry"] != "consul" {
				t.Errorf("node %s: want metadata registry=consul, have %v", node.ID, node.Metadata)
			}
			if node.Health != registry.HealthPassing {
				t.Errorf("node %s: want passing, have %q", node.ID, node.Health)
			}
		}
		if n := got[0].Nodes[0]; n.ID != goMicro+"-1" || n.Address != "127.0.0.1:9091" || n.Metadata["protocol"] != "grpc" {
			t.Errorf("want node %s-1 at 127.0.0.1:9091 with protocol=grpc, have %s", goMicro, jsonOf(t, n))
		}
		eps := got[0].Endpoints
		if len(eps) != 1 || eps[0].Name != "Greeter.Hello" || eps[0].Request == nil ||
			eps[0].Request.Name != "Request" || len(eps[0].Request.Values) != 1 || eps[0].Metadata["stream"] != "false" {
			t.Errorf("endpoints: have %s", jsonOf(t, eps))
		}
	})

	t.Run("plain", func(t *testing.T) {
		got, err := r.GetService(testContext(t), plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Version != "2.0" || len(got[0].Nodes) != 1 {
			t.Fatalf("want one version 2.0 with 1 node, have %s", jsonOf(t, got))
		}
		n := got[0].Nodes[0]
		if n.ID != plain+"-1" || n.Address != "127.0.0.1:8080" || n.Metadata["zone"] != "b" || n.Health != registry.HealthPassing {
			t.Errorf("want node %s-1 at 127.0.0.1:8080 (the consul node's address) with zone=b, passing; have %s", plain, jsonOf(t, n))
		}

		all, err := r.ListServices(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		for _, svc := range all {
			if svc.Name == "consul" {
				t.Error("ListServices should leave out consul itself")
			}
			found[svc.Name] = true
		}
		if !found[plain] || !found[goMicro] {
			t.Errorf("want %s and %s listed, have %s", plain, goMicro, jsonOf(t, all))
		}
	})
}

// TestWritesForGoMicro checks what Register leaves in Consul: go-micro tags
// that carry everything, and Meta within Consul's limits.
func TestWritesForGoMicro(t *testing.T) {
	agent := testenv.Consul(t)
	client := apiClient(t, agent.Addr())
	r := newRegistry(t, agent.Addr())

	name := registrytest.UniqueName(t, "limits")
	nodeMetadata := map[string]string{"dotted.key": "kept in tags", "long": strings.Repeat("x", 600)}
	for i := range 70 {
		nodeMetadata["key"+strconv.Itoa(i)] = strconv.Itoa(i)
	}
	svc := &registry.Service{
		Name: name, Version: "1.0.0",
		Metadata:  map[string]string{"team": "core"},
		Endpoints: []*registry.Endpoint{{Name: "Limits.Check", Request: &registry.Value{Name: "Req", Type: "Req"}}},
		Nodes:     []*registry.Node{{ID: name + "-1", Address: "127.0.0.1:7001", Metadata: nodeMetadata}},
	}
	if err := r.Register(testContext(t), svc, registry.WithTTL(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })

	got, err := r.GetService(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Nodes) != 1 {
		t.Fatalf("want 1 node, have %s", jsonOf(t, got))
	}
	if have := got[0].Nodes[0].Metadata; len(have) != len(nodeMetadata) || have["dotted.key"] != "kept in tags" || have["long"] != nodeMetadata["long"] {
		t.Errorf("node metadata did not survive Consul's Meta limits: want %d entries, have %d", len(nodeMetadata), len(have))
	}
	if got[0].Metadata["team"] != "core" || got[0].Version != "1.0.0" {
		t.Errorf("want version 1.0.0 and team=core, have %s %v", got[0].Version, got[0].Metadata)
	}

	services, err := client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	raw := services[name+"-1"]
	if raw == nil {
		t.Fatalf("no consul service %s-1", name)
	}
	if raw.Service != name || raw.Address != "127.0.0.1" || raw.Port != 7001 {
		t.Errorf("want %s at 127.0.0.1 port 7001, have %s at %s port %d", name, raw.Service, raw.Address, raw.Port)
	}
	if len(raw.Meta) > 64 || raw.Meta["version"] != "1.0.0" {
		t.Errorf("want at most 64 meta entries with version=1.0.0, have %d: %v", len(raw.Meta), raw.Meta)
	}
	var version string
	metadataTags, endpointTags := 0, 0
	for _, tag := range raw.Tags {
		switch {
		case strings.HasPrefix(tag, "v-"):
			version = string(inflate(t, tag[2:]))
		case strings.HasPrefix(tag, "t-"):
			metadataTags++
		case strings.HasPrefix(tag, "e-"):
			endpointTags++
		}
	}
	if version != "1.0.0" || metadataTags != len(nodeMetadata) || endpointTags != 1 {
		t.Errorf("want go-micro tags v-(1.0.0), %d t-, 1 e-; have v-(%s), %d t-, %d e-", len(nodeMetadata), version, metadataTags, endpointTags)
	}

	checks, err := client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	check := checks["service:"+name+"-1"]
	if check == nil || check.Status != api.HealthPassing {
		t.Fatalf("want a passing TTL check service:%s-1, have %+v", name, check)
	}
}

func inflate(t *testing.T, hexData string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(hexData)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestAgentRestart restarts the agent with fresh state: the next Register
// (the heartbeat) registers the node in full again, and a watch that lived
// through the restart reports it.
func TestAgentRestart(t *testing.T) {
	agent := testenv.Consul(t)
	r := newRegistry(t, agent.Addr())
	name := registrytest.UniqueName(t, "restart")
	svc := &registry.Service{Name: name, Version: "1", Nodes: []*registry.Node{{ID: name + "-1", Address: "127.0.0.1:6001"}}}
	heartbeat := func() error { return r.Register(testContext(t), svc, registry.WithTTL(5*time.Second)) }
	if err := heartbeat(); err != nil {
		t.Fatal(err)
	}
	if err := heartbeat(); err != nil {
		t.Fatalf("heartbeat before the restart: %v", err)
	}
	w, err := r.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	agent.Restart(t)
	if _, err := r.GetService(testContext(t), name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a fresh agent should not know %s: %v", name, err)
	}
	if err := heartbeat(); err != nil {
		t.Fatalf("heartbeat after the restart: %v", err)
	}
	got, err := r.GetService(testContext(t), name)
	if err != nil {
		t.Fatalf("after the heartbeat re-registered it: %v", err)
	}
	if len(got) != 1 || len(got[0].Nodes) != 1 || got[0].Nodes[0].ID != name+"-1" {
		t.Fatalf("want node %s-1, have %s", name, jsonOf(t, got))
	}

	// The watch lived through the restart: it may have reported the node
	// deleted and created again, or missed the gap; either way it reports a
	// change made now.
	changed := registry.Clone(svc)
	changed.Nodes[0].Metadata = map[string]string{"after": "restart"}
	if err := r.Register(testContext(t), changed, registry.WithTTL(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })
	for {
		ev := registrytest.NextEvent(t, w, name)
		if ev.Type != registry.EventDelete && ev.Service.Nodes[0].Metadata["after"] == "restart" {
			break
		}
	}
}

func closedPort(t *testing.T) string {
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
	addr := closedPort(t)
	r := newRegistry(t, addr)
	svc := &registry.Service{Name: "greeter", Nodes: []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:1"}}}
	cases := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Register", func(ctx context.Context) error { return r.Register(ctx, svc) }},
		{"Deregister", func(ctx context.Context) error { return r.Deregister(ctx, svc) }},
		{"GetService", func(ctx context.Context) error { _, err := r.GetService(ctx, "greeter"); return err }},
		{"ListServices", func(ctx context.Context) error { _, err := r.ListServices(ctx); return err }},
		{"Watch", func(ctx context.Context) error { _, err := r.Watch(ctx); return err }},
		{"WatchService", func(ctx context.Context) error {
			_, err := r.Watch(ctx, registry.WatchService("greeter"))
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(testContext(t))
			if !errors.Is(err, registry.ErrUnreachable) {
				t.Fatalf("want ErrUnreachable, have %v", err)
			}
			want := "cannot reach consul at " + addr + ": connection refused"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("want the message to contain %q, have %q", want, err)
			}
		})
	}
}

func TestIncludeUnhealthy(t *testing.T) {
	agent := testenv.Consul(t)
	r := newRegistry(t, agent.Addr())
	name := registrytest.UniqueName(t, "sick")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: name + "-1", Address: "127.0.0.1:5001"}}}
	if err := r.Register(testContext(t), svc, registry.WithTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })

	testutil.Eventually(t, 15*time.Second, func() error {
		_, err := r.GetService(testContext(t), name)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("still passing after its TTL (err %v)", err)
	})
	got, err := r.GetService(testContext(t), name, registry.IncludeUnhealthy())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Nodes) != 1 || got[0].Nodes[0].Health != registry.HealthCritical {
		t.Fatalf("want the node critical, have %s", jsonOf(t, got))
	}
	all, err := r.ListServices(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, s := range all {
		if s.Name == name {
			listed = len(s.Nodes) == 1 && s.Nodes[0].Health == registry.HealthCritical
		}
	}
	if !listed {
		t.Errorf("ListServices should show %s critical, have %s", name, jsonOf(t, all))
	}

	// The heartbeat brings it back.
	if err := r.Register(testContext(t), svc, registry.WithTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService(testContext(t), name); err != nil {
		t.Fatalf("passing again after a heartbeat: %v", err)
	}
}

func TestNoExpiry(t *testing.T) {
	agent := testenv.Consul(t)
	r := newRegistry(t, agent.Addr())
	name := registrytest.UniqueName(t, "manual")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: name + "-1", Address: "127.0.0.1:4001"}}}
	if err := r.Register(testContext(t), svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })
	checks, err := apiClient(t, agent.Addr()).Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if check, ok := checks["service:"+name+"-1"]; ok {
		t.Errorf("a registration with no expiry should have no TTL check, have %+v", check)
	}
	if _, err := r.GetService(testContext(t), name); err != nil {
		t.Fatal(err)
	}
}

func TestWatchContextEnds(t *testing.T) {
	agent := testenv.Consul(t)
	r := newRegistry(t, agent.Addr())
	for _, opts := range [][]registry.WatchOption{nil, {registry.WatchService("anything")}} {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := r.Watch(ctx, opts...)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := w.Next()
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("want context.Canceled, have %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Next did not return after the context ended")
		}
		w.Stop()
		if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
			t.Errorf("after Stop: want ErrWatcherStopped, have %v", err)
		}
	}
}

// TestWatchHealth checks that a node failing its TTL is reported deleted by
// a watch of every service, and created again after a heartbeat.
func TestWatchHealth(t *testing.T) {
	agent := testenv.Consul(t)
	r := newRegistry(t, agent.Addr())
	name := registrytest.UniqueName(t, "flaky")
	svc := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: name + "-1", Address: "127.0.0.1:3001"}}}
	w, err := r.Watch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if err := r.Register(testContext(t), svc, registry.WithTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })

	for _, want := range []registry.EventType{registry.EventCreate, registry.EventDelete} {
		ev := registrytest.NextEvent(t, w, name)
		if ev.Type != want {
			t.Fatalf("want %s, have %s", want, ev.Type)
		}
	}
	if err := r.Register(testContext(t), svc, registry.WithTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ev := registrytest.NextEvent(t, w, name); ev.Type != registry.EventCreate {
		t.Fatalf("want create after the heartbeat, have %s", ev.Type)
	}
}
