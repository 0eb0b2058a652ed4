package e2e

import (
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
