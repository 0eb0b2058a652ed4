package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
)

// micro watch prints create and delete events as JSON lines, including the
// delete a service makes when it stops gracefully.
func TestWatch(t *testing.T) {
	b := natsBackend(t)
	watch := start(t, env(b.env...), microBin, "watch", "-o", "json")

	// The watch subscribes asynchronously: register probes until one shows.
	testutil.Eventually(t, 20*time.Second, func() error {
		res := micro(t, env(b.env...), "register", "service", "--name", "probe", "--address", "127.0.0.1:1", "--ttl", "30s")
		if res.code != 0 {
			return fmt.Errorf("register probe: %s", res)
		}
		if !strings.Contains(watch.Output(), `"name":"probe"`) {
			return fmt.Errorf("no probe event yet:\n%s", watch.Output())
		}
		return nil
	})

	greeter := startGreeter(t, b)
	testutil.Eventually(t, 20*time.Second, func() error { return hasEvent(watch.Output(), registry.EventCreate, "greeter") })
	greeter.signal(syscall.SIGTERM)
	if code := greeter.wait(t, 15*time.Second); code != 0 {
		t.Errorf("greeter should exit 0 on SIGTERM, exited %d:\n%s", code, greeter.Output())
	}
	// Deregistered on the way out: a delete well before the TTL would expire it.
	testutil.Eventually(t, 2*time.Second, func() error { return hasEvent(watch.Output(), registry.EventDelete, "greeter") })

	watch.signal(syscall.SIGINT)
	if code := watch.wait(t, 10*time.Second); code != 0 {
		t.Errorf("micro watch should exit 0 on Ctrl-C, exited %d", code)
	}
}

func hasEvent(ndjson string, typ registry.EventType, service string) error {
	for _, line := range strings.Split(strings.TrimSpace(ndjson), "\n") {
		var ev registry.Event
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Type == typ && ev.Service != nil && ev.Service.Name == service {
			return nil
		}
	}
	return fmt.Errorf("no %s event for %s in:\n%s", typ, service, ndjson)
}

// micro server says where it listens, refuses a port that is taken, and
// stops cleanly on Ctrl-C.
func TestServerLifecycle(t *testing.T) {
	addr, server := startMicroServer(t)

	second := micro(t, env(), "server", "--address", addr, "--data-dir", t.TempDir())
	assertCleanError(t, second, 1, addr, "address already in use")

	server.signal(syscall.SIGINT)
	if code := server.wait(t, 15*time.Second); code != 0 {
		t.Errorf("micro server should exit 0 on Ctrl-C, exited %d:\n%s", code, server.Output())
	}
	if !strings.Contains(server.Output(), "stopped") {
		t.Errorf("micro server should say it stopped:\n%s", server.Output())
	}
	if res := micro(t, env("MICRO_REGISTRY_ADDRESS="+addr), "list", "services"); res.code != 1 {
		t.Errorf("after the server stopped the registry is unreachable: %s", res)
	}
}

func TestCompletionAndVersion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		res := micro(t, env(), "completion", shell)
		if res.code != 0 || !strings.Contains(res.stdout, "micro") {
			t.Errorf("completion %s: %s", shell, res)
		}
	}
	res := micro(t, env(), "version", "-o", "json")
	var info map[string]string
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &info) != nil || info["version"] == "" {
		t.Errorf("version -o json: %s", res)
	}
}

// Registry data is untrusted: a service registered directly in the NATS
// registry with a name that clears the screen is listed with the ESC
// escaped, on a table and in text; -o json keeps the name exact.
func TestRegistryDataIsEscaped(t *testing.T) {
	b := natsBackend(t)
	addr := strings.TrimPrefix(b.env[1], "MICRO_REGISTRY_ADDRESS=")
	reg := natsRegistry(t, "nats://"+addr)
	evil := "evil\x1b[2J"
	svc := &registry.Service{
		Name:    evil,
		Version: "v\x1b]0;title\x07",
		Nodes:   []*registry.Node{{ID: "n\x1b[1m", Address: "127.0.0.1:1", Metadata: map[string]string{"k": "v\u009b31m"}}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Register(ctx, svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"list", "services"},
		{"list", "services", "-o", "table"},
		{"get", "service", evil},
		{"get", "service", evil, "-o", "table"},
		{"deregister", "service", "--name", evil, "--address", "127.0.0.1:9"}, // fails: the error names it
	} {
		res := micro(t, env(b.env...), args...)
		out := res.stdout + res.stderr
		if strings.ContainsRune(out, 0x1b) || strings.ContainsRune(out, '\u009b') {
			t.Errorf("micro %q printed a raw control character: %q", args, out)
		}
		if !strings.Contains(out, `evil\x1b[2J`) {
			t.Errorf("micro %q: want the name shown escaped, have %s", args, res)
		}
	}
	res := micro(t, env(b.env...), "list", "services", "-o", "json")
	var listed []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &listed); err != nil || len(listed) != 1 || listed[0].Name != evil {
		t.Errorf("list services -o json: want the name exact, have %v %s", err, res)
	}
}

// deregister -o json prints the records it removed, as register does.
func TestDeregisterJSON(t *testing.T) {
	b := natsBackend(t)
	if res := micro(t, env(b.env...), "register", "service", "--name", "pg", "--id", "pg-1", "--address", "127.0.0.1:5432"); res.code != 0 {
		t.Fatalf("register: %s", res)
	}
	res := micro(t, env(b.env...), "deregister", "service", "--name", "pg", "--id", "pg-1", "-o", "json")
	var removed []*registry.Service
	if err := json.Unmarshal([]byte(res.stdout), &removed); err != nil || res.code != 0 {
		t.Fatalf("deregister -o json: want JSON, have %v %s", err, res)
	}
	if len(removed) != 1 || removed[0].Name != "pg" || len(removed[0].Nodes) != 1 || removed[0].Nodes[0].Address != "127.0.0.1:5432" {
		t.Errorf("want the one node removed, have %s", res.stdout)
	}
}
