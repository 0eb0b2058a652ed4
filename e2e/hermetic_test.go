package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writePersonalConfig puts a config file that would change every result
// (JSON output, Consul registry at a closed port) where micro looks for
// one under home, as a developer's ~/.config/micro/config.json.
func writePersonalConfig(t *testing.T, home string) {
	t.Helper()
	dir := filepath.Join(home, ".config", "micro")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := `{"output":"json","registry":"consul","registry-address":"` + freeAddr(t) + `"}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A personal config in the HOME of the test process changes no test: the
// processes the tests start get a HOME and XDG directories of the test
// run's own. The control case shows that the same config, where micro
// looks, is read, so the assertion could fail.
func TestPersonalConfigIsIgnored(t *testing.T) {
	home := t.TempDir()
	writePersonalConfig(t, home)
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))

	b := natsBackend(t) // micro server started with env(), under that HOME
	if res := micro(t, env(b.env...), "register", "service", "--name", "pg", "--address", "127.0.0.1:5432"); res.code != 0 {
		t.Fatalf("register: %s", res)
	}
	// Without MICRO_REGISTRY: only the default (nats) finds the server.
	addr := strings.TrimPrefix(b.env[1], "MICRO_REGISTRY_ADDRESS=")
	res := micro(t, env("MICRO_REGISTRY_ADDRESS="+addr), "list", "services")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "pg\t") {
		t.Errorf("the personal config of the test process leaked in: want a tab-separated line from nats, have %s", res)
	}

	// Control: the same file in the HOME micro is given is read.
	controlHome := t.TempDir()
	writePersonalConfig(t, controlHome)
	res = micro(t, env("HOME="+controlHome, "XDG_CONFIG_HOME="+filepath.Join(controlHome, ".config"), "MICRO_REGISTRY_ADDRESS="+addr), "list", "services")
	if res.code != 1 || !strings.Contains(res.stderr, "consul") {
		t.Errorf("control: micro given that HOME should read its config and fail on the closed consul port, have %s", res)
	}
}

// The binaries the tests run are built with the race detector, as
// docs/testing.md says, so a race in a command fails the e2e run too.
func TestBinariesBuiltWithRace(t *testing.T) {
	for _, bin := range []string{microBin, greeterBin} {
		out, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatalf("go version -m %s: %v", bin, err)
		}
		if !strings.Contains(string(out), "-race=true") {
			t.Errorf("%s is not built with -race:\n%s", filepath.Base(bin), out)
		}
	}
}
