package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
)

// backend is the registry a scenario runs against: the environment that
// points micro and the services at it.
type backend struct {
	name string
	env  []string
}

func natsBackend(t *testing.T) backend {
	addr, _ := startMicroServer(t)
	return backend{name: "nats", env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + addr}}
}

func consulBackend(t *testing.T) (backend, *testenv.ConsulAgent) {
	agent := testenv.Consul(t)
	return backend{name: "consul", env: []string{"MICRO_REGISTRY=consul", "MICRO_REGISTRY_ADDRESS=" + agent.Addr()}}, agent
}

const (
	greeterTTL      = 3 * time.Second
	greeterInterval = time.Second
)

// startGreeter runs one greeter instance registered in b.
func startGreeter(t *testing.T, b backend, extra ...string) *process {
	t.Helper()
	vars := append([]string{
		"MICRO_SERVER_ADDRESS=127.0.0.1:0",
		"MICRO_REGISTER_TTL=" + greeterTTL.String(),
		"MICRO_REGISTER_INTERVAL=" + greeterInterval.String(),
	}, b.env...)
	return start(t, env(append(vars, extra...)...), greeterBin)
}

// getService runs `micro get service NAME -o json` and decodes it.
func getService(t *testing.T, b backend, name string, args ...string) ([]*registry.Service, result) {
	t.Helper()
	res := micro(t, env(b.env...), append([]string{"get", "service", name, "-o", "json"}, args...)...)
	if res.code != 0 {
		return nil, res
	}
	var services []*registry.Service
	if err := json.Unmarshal([]byte(res.stdout), &services); err != nil {
		t.Fatalf("get service -o json printed what is not JSON: %v\n%s", err, res)
	}
	return services, res
}

func countNodes(services []*registry.Service) int {
	n := 0
	for _, svc := range services {
		n += len(svc.Nodes)
	}
	return n
}

func TestRegistryNATS(t *testing.T) {
	runRegistryScenario(t, natsBackend(t))
}

func TestRegistryConsul(t *testing.T) {
	b, _ := consulBackend(t)
	runRegistryScenario(t, b)
}

// runRegistryScenario: two greeters; list shows 2/2; kill -9 of one and,
// within its TTL, get shows one node; register/deregister round trip.
func runRegistryScenario(t *testing.T, b backend) {
	first := startGreeter(t, b)
	startGreeter(t, b)

	testutil.Eventually(t, 30*time.Second, func() error {
		res := micro(t, env(b.env...), "list", "services")
		if res.code != 0 {
			return fmt.Errorf("list services: %s", res)
		}
		for _, line := range strings.Split(res.stdout, "\n") {
			fields := strings.Split(line, "\t")
			if len(fields) == 3 && fields[0] == "greeter" && fields[2] == "2/2" {
				return nil
			}
		}
		return fmt.Errorf("want greeter with 2/2 nodes, have:\n%s", res.stdout)
	})

	// The alias prints the same thing.
	if res := micro(t, env(b.env...), "services"); !strings.Contains(res.stdout, "greeter") {
		t.Errorf("micro services: %s", res)
	}

	services, res := getService(t, b, "greeter")
	if countNodes(services) != 2 {
		t.Fatalf("want 2 greeter nodes, have %s", res)
	}
	for _, n := range services[0].Nodes {
		if n.ID == "" || n.Address == "" || n.Metadata == nil {
			t.Errorf("node without id, address or metadata: %+v", n)
		}
	}
	if len(services[0].Endpoints) == 0 {
		t.Errorf("greeter registered no endpoints: %s", res)
	}

	killed := time.Now()
	first.signal(syscall.SIGKILL)
	testutil.Eventually(t, greeterTTL+10*time.Second, func() error {
		services, res := getService(t, b, "greeter")
		if n := countNodes(services); n != 1 {
			return fmt.Errorf("want 1 node after kill -9, have %d: %s", n, res)
		}
		return nil
	})
	t.Logf("%s: the killed node was gone %s after kill -9 (TTL %s)", b.name, time.Since(killed).Round(100*time.Millisecond), greeterTTL)

	// register then deregister a service not built with micro.
	res = micro(t, env(b.env...), "register", "service", "--name", "legacy", "--address", "127.0.0.1:9999",
		"--version", "7", "--metadata", "team=core")
	if res.code != 0 {
		t.Fatalf("register: %s", res)
	}
	services, res = getService(t, b, "legacy")
	if countNodes(services) != 1 || services[0].Version != "7" || services[0].Nodes[0].Address != "127.0.0.1:9999" ||
		services[0].Nodes[0].Metadata["team"] != "core" {
		t.Fatalf("registered legacy service did not come back: %s", res)
	}
	res = micro(t, env(b.env...), "deregister", "service", "--name", "legacy", "--address", "127.0.0.1:9999")
	if res.code != 0 {
		t.Fatalf("deregister: %s", res)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, res := getService(t, b, "legacy")
		if res.code != 1 || !strings.Contains(res.stderr, "not found") {
			return fmt.Errorf("want legacy gone (exit 1, not found), have %s", res)
		}
		return nil
	})
}
