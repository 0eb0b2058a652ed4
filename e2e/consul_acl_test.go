package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
)

// A Consul agent with ACLs on and default policy deny: without a token the
// built binary says Consul hid the services and names the token variable
// and flag, exiting 1, instead of listing nothing; with a token that may
// read, list, get and call work.
func TestConsulACL(t *testing.T) {
	agent := testenv.Consul(t, testenv.ConsulACL())
	b := backend{name: "consul-acl", env: []string{"MICRO_REGISTRY=consul", "MICRO_REGISTRY_ADDRESS=" + agent.Addr()}}
	startGreeter(t, b, "CONSUL_HTTP_TOKEN="+agent.ManagementToken())

	read := agent.ACLToken(t, `service_prefix "" { policy = "read" }`+"\n"+`node_prefix "" { policy = "read" }`)
	withToken := env(append(b.env, "MICRO_REGISTRY_TOKEN="+read, "XDG_CACHE_HOME="+t.TempDir())...)
	testutil.Eventually(t, 30*time.Second, func() error {
		if res := micro(t, withToken, "list", "services"); res.code != 0 || !strings.Contains(res.stdout, "greeter\t") {
			return fmt.Errorf("greeter not listed with a read token yet: %s", res)
		}
		return nil
	})

	noToken := env(b.env...)
	res := micro(t, noToken, "list", "services")
	assertCleanError(t, res, 1, "consul at "+agent.Addr()+" hides every service from requests without an ACL token", "CONSUL_HTTP_TOKEN", "--registry-token")
	if res.stdout != "" {
		t.Errorf("list without a token: want nothing on stdout, have %q", res.stdout)
	}
	res = micro(t, noToken, "get", "service", "greeter")
	assertCleanError(t, res, 1, "may exist but be hidden", "CONSUL_HTTP_TOKEN", "--registry-token")
	res = micro(t, noToken, "list", "services", "-o", "json")
	assertCleanError(t, res, 1, "--registry-token")
	res = micro(t, env(append(b.env, "XDG_CACHE_HOME="+t.TempDir())...), "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`)
	assertCleanError(t, res, 1, "may exist but be hidden", "--registry-token")
	if strings.Contains(res.stderr, "service not found") {
		t.Errorf("call without a token should not say the service is not found: %s", res.stderr)
	}

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(read+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, environ := range map[string][]string{
		"MICRO_REGISTRY_TOKEN":   withToken,
		"CONSUL_HTTP_TOKEN_FILE": env(append(b.env, "CONSUL_HTTP_TOKEN_FILE="+tokenFile)...),
	} {
		if res := micro(t, environ, "get", "service", "greeter"); res.code != 0 || !strings.Contains(res.stdout, "greeter\t") {
			t.Errorf("get with %s: want the greeter, have %s", name, res)
		}
	}
	if res := micro(t, noToken, "--registry-token", read, "get", "service", "greeter", "-o", "json"); res.code != 0 || !strings.Contains(res.stdout, `"name": "greeter"`) {
		t.Errorf("get with --registry-token: want the greeter, have %s", res)
	}
	if res := micro(t, withToken, "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`); res.code != 0 || !strings.Contains(res.stdout, "Ada") {
		t.Errorf("call with a read token: want an answer, have %s", res)
	}
}
