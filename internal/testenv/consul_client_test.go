package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestConsulClient starts a server agent and a client agent joined to it,
// registers a service through the client's HTTP API and checks that the
// server's catalog has it under the client's node; after Stop the client's
// port no longer answers.
func TestConsulClient(t *testing.T) {
	server := Consul(t)
	client, err := server.NewClient(t.TempDir(), "testenv-host")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Stop)
	if client.Addr() == server.Addr() {
		t.Fatalf("client and server share the address %s", client.Addr())
	}

	httpc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	t.Cleanup(httpc.CloseIdleConnections)
	body, _ := json.Marshal(map[string]any{"ID": "probe-1", "Name": "probe", "Address": "127.0.0.1", "Port": 9})
	req, err := http.NewRequest(http.MethodPut, "http://"+client.Addr()+"/v1/agent/service/register", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register through the client agent: %s", resp.Status)
	}

	var entries []struct{ Node, ServiceID string }
	if err := getJSON(httpc, fmt.Sprintf("http://%s/v1/catalog/service/probe", server.Addr()), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Node != client.Node() || entries[0].ServiceID != "probe-1" {
		t.Fatalf("server catalog has %+v for probe, want probe-1 on node %s", entries, client.Node())
	}

	addr := client.Addr()
	client.Stop()
	if _, err := httpc.Get("http://" + addr + "/v1/status/leader"); err == nil {
		t.Errorf("client agent on %s still answers after Stop", addr)
	}
}
