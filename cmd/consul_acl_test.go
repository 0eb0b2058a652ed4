package cmd

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testenv"
)

// TestConsulACL runs the command line against a Consul agent with ACLs on
// and default policy deny: without a token, list and get say that Consul
// hid the services and how to give a token, and exit 1; with a token that
// may read, from --registry-token or the environment, they show the
// services.
func TestConsulACL(t *testing.T) {
	agent := testenv.Consul(t, testenv.ConsulACL())
	read := agent.ACLToken(t, `service_prefix "" { policy = "read" }`+"\n"+`node_prefix "" { policy = "read" }`)
	onlyGreeter := agent.ACLToken(t, `service "greeter" { policy = "read" }`+"\n"+`node_prefix "" { policy = "read" }`)
	base := map[string]string{
		"MICRO_REGISTRY":         "consul",
		"MICRO_REGISTRY_ADDRESS": agent.Addr(),
		"MICRO_CONFIG":           filepath.Join(t.TempDir(), "none.json"),
	}
	with := func(extra ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		return env
	}

	for _, name := range []string{"greeter", "billing"} {
		_, stderr, code := runCLI(t, base, "register", "service", "--registry-token", agent.ManagementToken(),
			"--name", name, "--id", name+"-1", "--address", "127.0.0.1:9001")
		if code != 0 {
			t.Fatalf("register %s with the management token: exit %d: %s", name, code, stderr)
		}
	}
	_, stderr, code := runCLI(t, base, "register", "service", "--registry-token", read, "--name", "greeter", "--id", "greeter-2", "--address", "127.0.0.1:9002")
	if code != 1 || !strings.Contains(stderr, "service:write") || !strings.Contains(stderr, "--registry-token") {
		t.Errorf("register with a read token: want exit 1 naming service:write and --registry-token, have %d: %s", code, stderr)
	}

	denied := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"list without a token", base, []string{"list", "services"},
			[]string{"hides every service from requests without an ACL token", "CONSUL_HTTP_TOKEN", "--registry-token", agent.Addr()}},
		{"get without a token", base, []string{"get", "service", "greeter"},
			[]string{"may exist but be hidden", "CONSUL_HTTP_TOKEN", "--registry-token"}},
		{"list with a token consul does not know", with("CONSUL_HTTP_TOKEN", "00000000-0000-4000-8000-000000000000"), []string{"list", "services"},
			[]string{"ACL not found", "--registry-token"}},
		{"get of a service the token may not read", base, []string{"get", "service", "billing", "--registry-token", onlyGreeter},
			[]string{`hid the nodes of "billing"`, "--registry-token"}},
	}
	for _, c := range denied {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, c.env, c.args...)
			if code != 1 || stdout != "" {
				t.Errorf("want exit 1 and nothing on stdout, have %d, stdout %q", code, stdout)
			}
			if strings.Count(stderr, "\n") != 1 {
				t.Errorf("want one line on stderr, have %q", stderr)
			}
			for _, want := range c.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr should say %q: %s", want, stderr)
				}
			}
			if strings.Contains(stderr, "not found") && !strings.Contains(stderr, "ACL not found") {
				t.Errorf("stderr should not say the service is not found: %s", stderr)
			}
		})
	}

	allowed := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"--registry-token", base, []string{"--registry-token", read}},
		{"MICRO_REGISTRY_TOKEN", with("MICRO_REGISTRY_TOKEN", read), nil},
		{"CONSUL_HTTP_TOKEN", with("CONSUL_HTTP_TOKEN", read), nil},
		{"--registry-token over CONSUL_HTTP_TOKEN", with("CONSUL_HTTP_TOKEN", "00000000-0000-4000-8000-000000000000"), []string{"--registry-token", read}},
	}
	for _, c := range allowed {
		t.Run("list and get with "+c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, c.env, append(c.args, "list", "services")...)
			if code != 0 || !strings.Contains(stdout, "greeter\t") || !strings.Contains(stdout, "billing\t") || stderr != "" {
				t.Errorf("list: want both services, exit 0 and nothing on stderr, have %d\nstdout %q\nstderr %q", code, stdout, stderr)
			}
			stdout, stderr, code = runCLI(t, c.env, append(c.args, "get", "service", "greeter")...)
			if code != 0 || !strings.Contains(stdout, "greeter-1") {
				t.Errorf("get: want greeter-1, have %d\nstdout %q\nstderr %q", code, stdout, stderr)
			}
		})
	}

	t.Run("list with a token that may read some services", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, base, "--registry-token", onlyGreeter, "list", "services")
		if code != 0 || !strings.Contains(stdout, "greeter\t") || strings.Contains(stdout, "billing") {
			t.Errorf("want greeter only and exit 0, have %d\nstdout %q\nstderr %q", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "hid some services") || !strings.Contains(stderr, "--registry-token") {
			t.Errorf("want a warning that some services were hidden, naming --registry-token: %q", stderr)
		}
	})
}
