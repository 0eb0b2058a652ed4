package consul_test

import (
	"slices"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

// TestTags: the plain tags of services others registered (a plain Consul
// registration, a go-micro one) are Node.Tags, without go-micro's encoded
// tags; the tags of a node this package registers are written as plain
// Consul tags and read back.
func TestTags(t *testing.T) {
	agent := testenv.Consul(t)
	client := apiClient(t, agent.Addr())
	r := newRegistry(t, agent.Addr())
	ctx := testContext(t)

	plain := registrytest.UniqueName(t, "plain")
	registerWithAPI(t, client, &api.AgentServiceRegistration{
		ID: plain + "-1", Name: plain, Address: "127.0.0.1", Port: 9201,
		Tags: []string{"primary", "canary"},
		Meta: map[string]string{"version": "1.0"},
	})
	goMicro := registrytest.UniqueName(t, "gomicro")
	registerWithAPI(t, client, &api.AgentServiceRegistration{
		ID: goMicro + "-1", Name: goMicro, Address: "127.0.0.1", Port: 9202,
		Tags: []string{
			"primary",
			goMicroTag(t, "v-", []byte("2.0")),
			goMicroTag(t, "t-", jsonOf(t, map[string]string{"protocol": "grpc"})),
			"e-commerce", // looks like an endpoint tag, is not one
		},
	})
	ours := registrytest.UniqueName(t, "ours")
	svc := &registry.Service{Name: ours, Version: "3.0", Nodes: []*registry.Node{
		{ID: ours + "-1", Address: "127.0.0.1:9203", Metadata: map[string]string{"zone": "a"}, Tags: []string{"blue"}},
	}}
	if err := r.Register(ctx, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(ctx, svc) })

	cases := []struct {
		name        string
		wantVersion string
		wantTags    []string
	}{
		{plain, "1.0", []string{"primary", "canary"}},
		{goMicro, "2.0", []string{"primary", "e-commerce"}},
		{ours, "3.0", []string{"blue"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			services, err := r.GetService(ctx, c.name)
			if err != nil {
				t.Fatal(err)
			}
			node := services[0].Nodes[0]
			if services[0].Version != c.wantVersion || !slices.Equal(node.Tags, c.wantTags) {
				t.Errorf("want version %q and tags %q, have %q and %q", c.wantVersion, c.wantTags, services[0].Version, node.Tags)
			}
		})
	}

	// Consul itself holds the tag as given, beside the encoded ones.
	entries, _, err := client.Health().Service(ours, "", false, nil)
	if err != nil || len(entries) != 1 || !slices.Contains(entries[0].Service.Tags, "blue") {
		t.Errorf("want the consul instance to have the plain tag \"blue\", have %v, %v", entries, err)
	}
}
