package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
)

// TestNewRegistryConsulToken checks which ACL token NewRegistry gives the
// Consul registry, against an agent with ACLs on and default policy deny:
// RegistryToken over CONSUL_HTTP_TOKEN_FILE over CONSUL_HTTP_TOKEN.
func TestNewRegistryConsulToken(t *testing.T) {
	agent := testenv.Consul(t, testenv.ConsulACL())
	read := agent.ACLToken(t, `service_prefix "" { policy = "read" }`+"\n"+`node_prefix "" { policy = "read" }`)
	useless := agent.ACLToken(t, `key_prefix "" { policy = "read" }`)
	dir := t.TempDir()
	readFile := filepath.Join(dir, "read.token")
	if err := os.WriteFile(readFile, []byte(read+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		token      string
		env        map[string]string
		wantDenied bool
	}{
		{name: "no token", wantDenied: true},
		{name: "CONSUL_HTTP_TOKEN", env: map[string]string{"CONSUL_HTTP_TOKEN": read}},
		{name: "CONSUL_HTTP_TOKEN_FILE over CONSUL_HTTP_TOKEN", env: map[string]string{"CONSUL_HTTP_TOKEN": useless, "CONSUL_HTTP_TOKEN_FILE": readFile}},
		{name: "RegistryToken over the environment", token: read, env: map[string]string{"CONSUL_HTTP_TOKEN": useless}},
		{name: "a useless RegistryToken over a good environment", token: useless, env: map[string]string{"CONSUL_HTTP_TOKEN": read}, wantDenied: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{
				Registry:        RegistryConsul,
				RegistryAddress: agent.Addr(),
				RegistryToken:   c.token,
				Timeout:         10 * time.Second,
				Env:             func(k string) (string, bool) { v, ok := c.env[k]; return v, ok },
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := cfg.NewRegistry(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.ListServices(ctx)
			if denied := errors.Is(err, registry.ErrPermissionDenied); denied != c.wantDenied || (!denied && err != nil) {
				t.Errorf("want denied=%v, have %v", c.wantDenied, err)
			}
		})
	}
}
