package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/config"
)

// runCLI runs the command line with env as its whole environment. Unless
// env says where HOME is, HOME and the XDG directories are temporary
// directories of the test: no test reads the developer's files.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if _, ok := env["HOME"]; !ok {
		home := t.TempDir()
		withHome := map[string]string{
			"HOME":            home,
			"XDG_CONFIG_HOME": filepath.Join(home, ".config"),
			"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
			"XDG_DATA_HOME":   filepath.Join(home, ".local", "share"),
		}
		for k, v := range env {
			withHome[k] = v
		}
		env = withHome
	}
	ios, _, out, errOut := iostreams.Test()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = Run(context.Background(), ios, args, lookup)
	return out.String(), errOut.String(), code
}

func TestVersion(t *testing.T) {
	stdout, stderr, code := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "micro ") || stderr != "" {
		t.Fatalf("want a version line, have code %d stdout %q stderr %q", code, stdout, stderr)
	}
	stdout, _, code = runCLI(t, map[string]string{"MICRO_OUTPUT": "json"}, "version")
	var info map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &info) != nil || info["go"] == "" {
		t.Fatalf("MICRO_OUTPUT=json should print JSON, have %q", stdout)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`{"registry":"consul","registry-address":"127.0.0.1:1","timeout":"3s"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		env          map[string]string
		args         []string
		wantRegistry string
		wantAddress  string
	}{
		{"default", nil, nil, "nats", ""},
		{"file", map[string]string{"MICRO_CONFIG": path}, nil, "consul", "127.0.0.1:1"},
		{"env over file", map[string]string{"MICRO_CONFIG": path, "MICRO_REGISTRY": "memory"}, nil, "memory", "127.0.0.1:1"},
		{"flag over env", map[string]string{"MICRO_CONFIG": path, "MICRO_REGISTRY": "memory"}, []string{"--registry", "nats"}, "nats", "127.0.0.1:1"},
		{"underscore flag", nil, []string{"--registry_address", "127.0.0.1:2"}, "nats", "127.0.0.1:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"MICRO_CONFIG": filepath.Join(dir, "none.json")}
			for k, v := range c.env {
				env[k] = v
			}
			globals := &globalFlags{lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			ios, _, _, _ := iostreams.Test()
			root := NewCmdRoot(&cmdutil.Factory{IO: ios, Config: globals.Config, OutputFormat: globals.Output}, globals)
			if err := root.ParseFlags(c.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := globals.Config()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Registry != c.wantRegistry || cfg.RegistryAddress != c.wantAddress {
				t.Errorf("want %s at %q, have %s at %q", c.wantRegistry, c.wantAddress, cfg.Registry, cfg.RegistryAddress)
			}
		})
	}
}

func TestMemoryRegistryRoundTrip(t *testing.T) {
	// The memory registry lives in one process: register, get and list in
	// one invocation each still exercise the wiring and the output paths.
	env := map[string]string{"MICRO_REGISTRY": "memory", "MICRO_CONFIG": filepath.Join(t.TempDir(), "none.json")}
	stdout, stderr, code := runCLI(t, env, "list", "services")
	if code != 0 || stdout != "" {
		t.Fatalf("an empty registry lists nothing and succeeds: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	_, stderr, code = runCLI(t, env, "get", "service", "nosuch")
	if code != 1 || !strings.Contains(stderr, `"nosuch"`) || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("unknown service: want one line and exit 1, have code %d stderr %q", code, stderr)
	}
}

// Run finds the config file through the environment it is given, never
// through the process's: a personal config in the test process's HOME
// changes nothing, and the same file in the given HOME is read.
func TestConfigDirFromInjectedEnv(t *testing.T) {
	writeConfig := func(home string) {
		dir := filepath.Join(home, ".config", "micro")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"output":"json","registry":"consul"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	processHome := t.TempDir()
	writeConfig(processHome)
	t.Setenv("HOME", processHome)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(processHome, ".config"))

	given := t.TempDir()
	stdout, stderr, code := runCLI(t, map[string]string{"HOME": given}, "version")
	if code != 0 || !strings.HasPrefix(stdout, "micro ") {
		t.Errorf("the process's HOME leaked in: want a text version line, have exit %d %q %q", code, stdout, stderr)
	}
	writeConfig(given)
	stdout, _, code = runCLI(t, map[string]string{"HOME": given}, "version")
	if code != 0 || !strings.HasPrefix(stdout, "{") {
		t.Errorf("the config under the given HOME should be read (JSON output), have exit %d %q", code, stdout)
	}
	stdout, _, _ = runCLI(t, map[string]string{"HOME": processHome, "XDG_CONFIG_HOME": filepath.Join(given, "elsewhere")}, "version")
	if !strings.HasPrefix(stdout, "micro ") {
		t.Errorf("XDG_CONFIG_HOME is where the config is, not $HOME/.config: have %q", stdout)
	}
}

// An explicit --config that does not exist is a usage error; the default
// file may be missing.
func TestExplicitConfigMustExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nosuch.json")
	_, stderr, code := runCLI(t, map[string]string{"HOME": t.TempDir()}, "--config", missing, "version")
	if code != cmdutil.ExitUsage || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "Run 'micro version --help' for usage.") {
		t.Errorf("want exit 2 naming %s with the usage hint, have %d %q", missing, code, stderr)
	}
	if _, stderr, code := runCLI(t, map[string]string{"HOME": t.TempDir()}, "version"); code != 0 {
		t.Errorf("no config file at the default place: want exit 0, have %d %q", code, stderr)
	}
}

// TestEtcdFlags: the etcd settings come from flags over the environment
// over the config file, like the others.
func TestEtcdFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`{"registry":"etcd","etcd-layout":"kratos"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		env        map[string]string
		args       []string
		wantLayout string
		wantUser   string
		wantTLS    config.RegistryTLS
		wantErr    string
	}{
		{name: "file", wantLayout: "kratos"},
		{name: "env over file", env: map[string]string{"MICRO_ETCD_LAYOUT": "gozero", "MICRO_REGISTRY_USER": "env", "MICRO_REGISTRY_PASSWORD": "pw"},
			wantLayout: "gozero", wantUser: "env"},
		{name: "flags over env", env: map[string]string{"MICRO_ETCD_LAYOUT": "gozero", "MICRO_REGISTRY_TLS_INSECURE": "false"},
			args:       []string{"--etcd-layout", "micro,gomicro", "--registry-user", "flag", "--registry-password", "pw", "--registry-tls-ca", "ca.pem", "--registry-tls-insecure"},
			wantLayout: "micro,gomicro", wantUser: "flag", wantTLS: config.RegistryTLS{CAFile: "ca.pem", InsecureSkipVerify: true}},
		{name: "bad layout", args: []string{"--etcd-layout", "zookeeper"}, wantErr: `unknown layout "zookeeper"`},
		{name: "bad insecure", env: map[string]string{"MICRO_REGISTRY_TLS_INSECURE": "perhaps"}, wantErr: "MICRO_REGISTRY_TLS_INSECURE"},
		{name: "credentials for nats", args: []string{"--registry", "nats", "--registry-user", "u", "--registry-password", "p"}, wantErr: "apply to the etcd registry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"MICRO_CONFIG": path}
			for k, v := range c.env {
				env[k] = v
			}
			globals := &globalFlags{lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			ios, _, _, _ := iostreams.Test()
			root := NewCmdRoot(&cmdutil.Factory{IO: ios, Config: globals.Config, OutputFormat: globals.Output}, globals)
			if err := root.ParseFlags(c.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := globals.Config()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || cmdutil.ExitCode(err) != cmdutil.ExitUsage {
					t.Fatalf("want a usage error about %q, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.EtcdLayout != c.wantLayout || cfg.RegistryUser != c.wantUser || cfg.RegistryTLS != c.wantTLS {
				t.Errorf("want layout %q, user %q, tls %+v; have %q, %q, %+v", c.wantLayout, c.wantUser, c.wantTLS, cfg.EtcdLayout, cfg.RegistryUser, cfg.RegistryTLS)
			}
		})
	}
}
