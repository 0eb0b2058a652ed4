package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// Bad input: one clear line, the documented exit code, no stack trace.
func TestBadInput(t *testing.T) {
	natsEnv := natsBackend(t).env
	closed := freeAddr(t) // nothing listens here

	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"unreachable nats registry", env("MICRO_REGISTRY_ADDRESS=" + closed), []string{"list", "services"}, 1,
			[]string{closed, "micro server"}},
		{"unreachable consul registry", env(), []string{"--registry", "consul", "--registry-address", closed, "list", "services"}, 1,
			[]string{closed}},
		{"unreachable etcd registry", env(), []string{"--registry", "etcd", "--registry-address", closed, "list", "services"}, 1,
			[]string{"cannot reach etcd at " + closed}},
		{"unknown registry backend", env(), []string{"--registry", "zookeeper", "list", "services"}, 2,
			[]string{"zookeeper", "etcd"}},
		{"unknown service", env(natsEnv...), []string{"get", "service", "nosuch"}, 1,
			[]string{"nosuch", "not found"}},
		{"register without address", env(natsEnv...), []string{"register", "service", "--name", "x"}, 2,
			[]string{"--address"}},
		{"register with a bad address", env(natsEnv...), []string{"register", "service", "--name", "x", "--address", "nohostport"}, 2,
			[]string{"host:port"}},
		{"register malformed JSON", env(natsEnv...), []string{"register", "service", `{"name":"x",`}, 2,
			[]string{"JSON"}},
		{"register JSON without nodes", env(natsEnv...), []string{"register", "service", `{"name":"x"}`}, 2,
			[]string{"no nodes"}},
		{"register bad metadata", env(natsEnv...), []string{"register", "service", "--name", "x", "--address", "127.0.0.1:1", "--metadata", "novalue"}, 2,
			[]string{"key=value"}},
		{"deregister unknown node", env(natsEnv...), []string{"deregister", "service", "--name", "nosuch", "--id", "x"}, 1,
			[]string{"nosuch"}},
		{"unknown command", env(), []string{"frobnicate"}, 2, []string{"frobnicate"}},
		{"unknown flag", env(), []string{"list", "services", "--frob"}, 2, []string{"--frob"}},
		{"bad output format", env(), []string{"version", "-o", "yaml"}, 2, []string{"yaml"}},
		{"bad timeout in env", env("MICRO_TIMEOUT=soon"), []string{"list", "services"}, 2, []string{"MICRO_TIMEOUT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := micro(t, c.env, c.args...)
			assertCleanError(t, res, c.code, c.want...)
			if res.stdout != "" {
				t.Errorf("nothing should go to stdout on error, have %q", res.stdout)
			}
		})
	}
}

// Usage errors: exit 2, one line that says micro once, and a second line
// that points at the help of the command that was run.
func TestUsageErrors(t *testing.T) {
	natsEnv := natsBackend(t).env
	missing := filepath.Join(t.TempDir(), "nosuch.json")
	cases := []struct {
		name string
		args []string
		help string // the command whose --help the hint names
		want []string
	}{
		{"unknown subcommand of get", []string{"get", "greeter"}, "micro get", []string{`"greeter"`, "micro get service NAME"}},
		{"unknown subcommand of list", []string{"list", "service"}, "micro list", []string{`"service"`, `did you mean "services"`}},
		{"unknown subcommand of register", []string{"register", "foo"}, "micro register", []string{`"foo"`}},
		{"unknown subcommand of deregister", []string{"deregister", "foo"}, "micro deregister", []string{`"foo"`}},
		{"a service with no method", []string{"bench", "greeter"}, "micro bench", []string{`"greeter" is not svc.Method`, "greeter.Hello"}},
		{"no arguments, plural", []string{"get", "service"}, "micro get service", []string{"(got 0 arguments)"}},
		{"missing --config file", []string{"--config", missing, "list", "services"}, "micro list services", []string{missing, "no such file"}},
		{"name with a space", []string{"register", "service", "--name", "has space", "--address", "127.0.0.1:1"}, "micro register service", []string{"has space", "white space"}},
		{"name with ESC", []string{"register", "service", "--name", "x\x1b[2J", "--address", "127.0.0.1:1"}, "micro register service", []string{`x\x1b[2J`, "control characters"}},
		{"server address without a port", []string{"server", "--address", "localhost", "--data-dir", t.TempDir()}, "micro server", []string{`"localhost"`, "host:port"}},
		{"unknown command", []string{"frobnicate"}, "micro", []string{"frobnicate"}},
		{"unknown flag", []string{"list", "services", "--frob"}, "micro list services", []string{"--frob"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := micro(t, env(natsEnv...), c.args...)
			assertCleanError(t, res, 2, c.want...)
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			if want := "Run '" + c.help + " --help' for usage."; len(lines) != 2 || lines[1] != want {
				t.Errorf("want the usage hint %q as the second line, have:\n%s", want, res.stderr)
			}
			if strings.HasPrefix(res.stderr, "micro: micro") {
				t.Errorf("micro twice: %s", res.stderr)
			}
			if strings.ContainsRune(res.stderr, 0x1b) {
				t.Errorf("a raw ESC on stderr: %q", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("nothing should go to stdout on a usage error, have %q", res.stdout)
			}
		})
	}
	// A group command without a subcommand shows its help and succeeds.
	if res := micro(t, env(), "get"); res.code != 0 || !strings.Contains(res.stdout, "service") {
		t.Errorf("micro get: want its help and exit 0, have %s", res)
	}
}
