package e2e

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/microtools/micro/internal/testutil"
)

// A Consul agent restarted with fresh state loses every registration; the
// greeter's heartbeat registers it again within one interval, with no action
// from anyone.
func TestConsulAgentRestartReregisters(t *testing.T) {
	b, agent := consulBackend(t)
	startGreeter(t, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		if services, res := getService(t, b, "greeter"); countNodes(services) != 1 {
			return fmt.Errorf("greeter not registered yet: %s", res)
		}
		return nil
	})

	agent.Restart(t) // same port, fresh data dir: the catalog is empty
	restarted := time.Now()
	testutil.Eventually(t, greeterInterval+5*time.Second, func() error {
		if services, res := getService(t, b, "greeter"); countNodes(services) != 1 {
			return fmt.Errorf("greeter not registered again: %s", res)
		}
		return nil
	})
	took := time.Since(restarted)
	t.Logf("greeter registered again %s after the agent came back (heartbeat interval %s)", took.Round(10*time.Millisecond), greeterInterval)
	if took > 2*greeterInterval+time.Second {
		t.Errorf("re-registration took %s, more than one heartbeat interval (%s) plus the time to ask", took, greeterInterval)
	}
}

// goMicroTag encodes a value the way go-micro's consul registry does:
// prefix + hex(zlib(json)); a version string is compressed as it is.
func goMicroTag(t *testing.T, prefix string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := v.(string); ok {
		data = []byte(s)
	}
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

func TestConsulForeignRegistrations(t *testing.T) {
	b, agent := consulBackend(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: agent.Addr()})
	if err != nil {
		t.Fatal(err)
	}

	// A go-micro service: version, metadata and endpoints in encoded tags.
	endpoint := map[string]any{
		"name":     "Legacy.Call",
		"request":  map[string]any{"name": "Request", "type": "Request"},
		"response": map[string]any{"name": "Response", "type": "Response"},
		"metadata": map[string]string{"stream": "false"},
	}
	err = client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID:      "go.micro.srv.legacy-1",
		Name:    "go.micro.srv.legacy",
		Address: "127.0.0.1",
		Port:    7001,
		Tags: []string{
			goMicroTag(t, "v-", "2.3.4"),
			goMicroTag(t, "t-", map[string]string{"registry": "consul", "server": "grpc"}),
			goMicroTag(t, "e-", endpoint),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A plain registration with no micro metadata at all.
	err = client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "plain-1", Name: "plain", Address: "127.0.0.1", Port: 7002,
		Meta: map[string]string{"owner": "ops"},
	})
	if err != nil {
		t.Fatal(err)
	}

	services, res := getService(t, b, "go.micro.srv.legacy")
	if countNodes(services) != 1 {
		t.Fatalf("want the go-micro service with one node: %s", res)
	}
	svc := services[0]
	if svc.Version != "2.3.4" {
		t.Errorf("want version 2.3.4, have %q", svc.Version)
	}
	if md := svc.Nodes[0].Metadata; md["registry"] != "consul" || md["server"] != "grpc" {
		t.Errorf("want node metadata from the t- tag, have %v", md)
	}
	if len(svc.Endpoints) != 1 || svc.Endpoints[0].Name != "Legacy.Call" || svc.Endpoints[0].Request.Name != "Request" {
		t.Errorf("want endpoint Legacy.Call from the e- tag, have %s", res.stdout)
	}
	if svc.Nodes[0].Address != "127.0.0.1:7001" {
		t.Errorf("want address 127.0.0.1:7001, have %q", svc.Nodes[0].Address)
	}

	// The table form a person reads shows the same.
	table := micro(t, env(b.env...), "get", "service", "go.micro.srv.legacy", "-o", "table")
	for _, want := range []string{"2.3.4", "Legacy.Call", "registry=consul", "127.0.0.1:7001"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("get service table should show %q:\n%s", want, table)
		}
	}

	list := micro(t, env(b.env...), "list", "services")
	if !strings.Contains(list.stdout, "plain\t") || !strings.Contains(list.stdout, "go.micro.srv.legacy\t2.3.4\t1/1") {
		t.Errorf("list should show both foreign services:\n%s", list)
	}
	plain, res := getService(t, b, "plain")
	if countNodes(plain) != 1 || plain[0].Nodes[0].Address != "127.0.0.1:7002" || plain[0].Nodes[0].Metadata["owner"] != "ops" {
		t.Errorf("plain registration: %s", res)
	}
}
