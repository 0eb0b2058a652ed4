package e2e

import (
	"slices"
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
)

// Plain Consul tags of services others registered show in `get service`
// (text and table) and stay in -o json; go-micro's encoded tags are decoded
// and not listed raw.
func TestConsulTags(t *testing.T) {
	b, agent := consulBackend(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: agent.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	for _, reg := range []*consulapi.AgentServiceRegistration{
		{ID: "web-1", Name: "web", Address: "127.0.0.1", Port: 7101, Tags: []string{"primary", "canary"}},
		{ID: "legacy-1", Name: "legacy", Address: "127.0.0.1", Port: 7102, Tags: []string{
			goMicroTag(t, "v-", "2.3.4"),
			goMicroTag(t, "t-", map[string]string{"server": "grpc"}),
			"canary",
		}},
	} {
		if err := client.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
	}

	for name, want := range map[string][]string{"web": {"primary", "canary"}, "legacy": {"canary"}} {
		services, res := getService(t, b, name)
		if countNodes(services) != 1 {
			t.Fatalf("get %s: want one node: %s", name, res)
		}
		if have := services[0].Nodes[0].Tags; !slices.Equal(have, want) {
			t.Errorf("get %s -o json: want tags %q, have %q\n%s", name, want, have, res.stdout)
		}
	}

	text := micro(t, env(b.env...), "get", "service", "web")
	if text.code != 0 || !strings.HasSuffix(strings.TrimSpace(text.stdout), "\tprimary,canary") {
		t.Errorf("get service (text) should end the node's line with its tags:\n%s", text)
	}
	table := micro(t, env(b.env...), "get", "service", "legacy", "-o", "table")
	for _, want := range []string{"TAGS", "canary", "2.3.4", "server=grpc"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("get service table should show %q:\n%s", want, table)
		}
	}
	for _, res := range []result{table, micro(t, env(b.env...), "get", "service", "legacy", "-o", "json"), micro(t, env(b.env...), "get", "service", "legacy")} {
		if strings.Contains(res.stdout, "v-78") || strings.Contains(res.stdout, "t-78") {
			t.Errorf("go-micro's encoded tags should not be listed raw:\n%s", res)
		}
	}
}
