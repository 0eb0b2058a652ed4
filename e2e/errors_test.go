package e2e

import (
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
		{"unknown registry backend", env(), []string{"--registry", "etcd", "list", "services"}, 2,
			[]string{"etcd"}},
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
