package cmd

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// Shell completion reads the registry the command line names: a
// --registry-address given on the line beats MICRO_REGISTRY_ADDRESS, as it
// does for every command. Cobra's __complete runs no PersistentPreRunE, so
// the flags must be seen without it.
func TestCompletionHonoursGlobalFlags(t *testing.T) {
	srv := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := natsregistry.New(ctx, natsregistry.WithURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	svc := &registry.Service{Name: "greeter", Nodes: []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:1"}}}
	if err := reg.Register(ctx, svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}

	// Nothing listens at closed: completing against it finds nothing.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()

	dir := t.TempDir()
	env := map[string]string{
		"MICRO_REGISTRY_ADDRESS": closed,
		"XDG_CONFIG_HOME":        filepath.Join(dir, "config"),
		"XDG_CACHE_HOME":         filepath.Join(dir, "cache"),
		"HOME":                   dir,
	}
	cases := []struct {
		name string
		args []string
		want bool
	}{
		{"flag before the command", []string{"__complete", "--registry-address", srv.URL(), "get", "service", ""}, true},
		{"flag after the command", []string{"__complete", "get", "service", "--registry-address", srv.URL(), "gr"}, true},
		{"underscore spelling", []string{"__complete", "--registry_address", srv.URL(), "describe", ""}, true},
		{"flag value completion", []string{"__complete", "--registry-address", srv.URL(), "deregister", "service", "--name", ""}, true},
		{"environment only", []string{"__complete", "get", "service", ""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, env, c.args...)
			if code != 0 {
				t.Fatalf("__complete exited %d: %s", code, stderr)
			}
			if have := strings.Contains(stdout, "greeter\n"); have != c.want {
				t.Errorf("want greeter offered: %v; have %q", c.want, stdout)
			}
		})
	}
}
