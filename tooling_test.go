package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testenv"
)

// `make test` fails when the Consul agent (or the etcd server) cannot be installed, instead of
// running the suite with CONSUL_BIN empty (where the Consul tests skip when
// run by hand). GO=true stands in for the go command so that nothing is
// built or tested here.
func TestMakeTestNeedsConsul(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Unavailable(t, "no make on the PATH")
	}
	cases := []struct {
		name        string
		install     string
		etcdInstall string
		nodeDeps    string // the MCP test client's install (scripts/install-node-deps.sh)
		wantOK      bool
		wantOut     string
	}{
		{"install fails", "false", "echo /opt/etcd", "echo /opt/node_modules", false, "no Consul agent"},
		{"install prints nothing", "true", "echo /opt/etcd", "echo /opt/node_modules", false, "no Consul agent"},
		{"install prints the agent", "echo /opt/consul", "echo /opt/etcd", "echo /opt/node_modules", true, "PLAYWRIGHT_DIR=/opt/playwright BUF_BIN=/opt/buf RABBITMQ_SERVER=/opt/rabbitmq-server MICRO_MCP_NODE_MODULES=/opt/node_modules ETCD_BIN=/opt/etcd CONSUL_BIN=/opt/consul true test -race"},
		// The same for etcd (scripts/install-etcd.sh).
		{"etcd install fails", "echo /opt/consul", "false", "echo /opt/node_modules", false, "no etcd server"},
		{"etcd install prints nothing", "echo /opt/consul", "true", "echo /opt/node_modules", false, "no etcd server"},
		// And for the MCP test client.
		{"node deps fail", "echo /opt/consul", "echo /opt/etcd", "false", false, "no MCP test client"},
		{"node deps print nothing", "echo /opt/consul", "echo /opt/etcd", "true", false, "no MCP test client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("make", "--no-print-directory", "test", "GO=true", "CONSUL_INSTALL="+c.install, "ETCD_INSTALL="+c.etcdInstall, "NODE_DEPS_INSTALL="+c.nodeDeps,
				"RABBITMQ_INSTALL=echo /opt/rabbitmq-server", "BUF_INSTALL=echo /opt/buf", "BROWSER_INSTALL=echo /opt/playwright")
			out, err := cmd.CombinedOutput()
			if (err == nil) != c.wantOK || !strings.Contains(string(out), c.wantOut) {
				t.Errorf("want success %v and %q, have %v:\n%s", c.wantOK, c.wantOut, err, out)
			}
		})
	}
}

// `make test` fails as well when buf, which the gateway's tests run, cannot
// be built (scripts/install-buf.sh).
func TestMakeTestNeedsBuf(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Unavailable(t, "no make on the PATH")
	}
	for _, install := range []string{"false", "true"} {
		t.Run(install, func(t *testing.T) {
			cmd := exec.Command("make", "--no-print-directory", "test", "GO=true", "CONSUL_INSTALL=echo /opt/consul", "ETCD_INSTALL=echo /opt/etcd",
				"NODE_DEPS_INSTALL=echo /opt/node_modules", "RABBITMQ_INSTALL=echo /opt/rabbitmq-server", "BUF_INSTALL="+install)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "no buf") {
				t.Errorf("want make test to fail saying there is no buf, have %v:\n%s", err, out)
			}
		})
	}
}

// .ci/run exports CI=true to every step, so that a test whose dependency is
// missing fails there instead of skipping. A fake make records what it got.
func TestCIRunExportsCI(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	fakeMake := filepath.Join(dir, "make")
	script := "#!/bin/sh\necho \"$1 CI=$CI\" >> " + log + "\n"
	if err := os.WriteFile(fakeMake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", ".ci/run")
	// The fake make comes first on PATH: .ci/run calls make by name, as
	// the README does.
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "CI=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf(".ci/run: %v\n%s", err, out)
	}
	have, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "fmt-check CI=true\ntidy-check CI=true\ntest CI=true\n"; string(have) != want {
		t.Errorf("want every step with CI=true:\n%s\nhave:\n%s", want, have)
	}
}

// `make install` builds micro into $(go env GOPATH)/bin. A fake go records
// the build it was asked for.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Unavailable(t, "no make on the PATH")
	}
	dir := t.TempDir()
	fakeGo := filepath.Join(dir, "go")
	script := "#!/bin/sh\nif [ \"$1\" = env ]; then echo /opt/gopath; else echo \"go $*\" > " + filepath.Join(dir, "log") + "; fi\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("make", "--no-print-directory", "install", "GO="+fakeGo).CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	have, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(have), "go build ") || !strings.HasSuffix(string(have), "-o /opt/gopath/bin/micro .\n") {
		t.Errorf("want go build -o /opt/gopath/bin/micro ., have %q", have)
	}
}

// `make test` fails as well when RabbitMQ cannot be installed.
func TestMakeTestNeedsRabbitMQ(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Unavailable(t, "no make on the PATH")
	}
	cases := []struct {
		name    string
		install string
		wantOK  bool
		wantOut string
	}{
		{"install fails", "false", false, "no RabbitMQ"},
		{"install prints nothing", "true", false, "no RabbitMQ"},
		{"install prints the server", "echo /opt/rabbitmq-server", true, "RABBITMQ_SERVER=/opt/rabbitmq-server MICRO_MCP_NODE_MODULES=/opt/node_modules ETCD_BIN=/opt/etcd CONSUL_BIN=/opt/consul true test -race"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("make", "--no-print-directory", "test", "GO=true", "CONSUL_INSTALL=echo /opt/consul", "ETCD_INSTALL=echo /opt/etcd",
				"NODE_DEPS_INSTALL=echo /opt/node_modules", "RABBITMQ_INSTALL="+c.install)
			out, err := cmd.CombinedOutput()
			if (err == nil) != c.wantOK || !strings.Contains(string(out), c.wantOut) {
				t.Errorf("want success %v and %q, have %v:\n%s", c.wantOK, c.wantOut, err, out)
			}
		})
	}
}

// `make bench-check` fails when an instruction count is past the margin
// over the one bench/RESULTS.md records, and passes within it; a results
// file without counts is an error that says what to run. BENCH_COUNTS stands
// in for bench/instructions.sh (valgrind), and `make test` does not run it.
func TestBenchCheck(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		testenv.Unavailable(t, "no bash on the PATH")
	}
	dir := t.TempDir()
	results := filepath.Join(dir, "RESULTS.md")
	recorded := "| what | instructions |\n|---|---|\n| instructions: `micro version` | 1000 |\n| instructions: warm `micro call` | 2000 |\n"
	if err := os.WriteFile(results, []byte(recorded), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "EMPTY.md")
	if err := os.WriteFile(empty, []byte("# no counts\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		file    string
		counts  string
		margin  string
		wantOK  bool
		wantOut string
	}{
		{"within the margin", results, "micro-version 1050\nmicro-call 1900", "10", true, "warm micro call: 1900 instructions, recorded 2000: -5.0% ok"},
		{"call past the margin", results, "micro-version 1050\nmicro-call 2500", "10", false, "warm micro call: 2500 instructions, recorded 2000: +25.0% FAIL"},
		{"version past a smaller margin", results, "micro-version 1050\nmicro-call 2000", "2", false, "micro version: 1050 instructions, recorded 1000: +5.0% FAIL"},
		{"no counts recorded", empty, "micro-version 1\nmicro-call 1", "10", false, "records no instruction counts"},
		{"no counts measured", results, "valgrind: not found", "10", false, "gave no counts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("bash", "bench/check.sh", "-f", c.file, "-m", c.margin)
			cmd.Env = append(os.Environ(), "BENCH_COUNTS=printf '"+strings.ReplaceAll(c.counts, "\n", `\n`)+`\n'`)
			out, err := cmd.CombinedOutput()
			if (err == nil) != c.wantOK || !strings.Contains(string(out), c.wantOut) {
				t.Errorf("want success %v and %q, have %v:\n%s", c.wantOK, c.wantOut, err, out)
			}
		})
	}
	if _, err := exec.LookPath("make"); err != nil {
		return
	}
	out, err := exec.Command("make", "--no-print-directory", "-n", "test", "GO=true", "CONSUL_INSTALL=echo c", "ETCD_INSTALL=echo e", "NODE_DEPS_INSTALL=echo n",
		"RABBITMQ_INSTALL=echo r", "BUF_INSTALL=echo b", "BROWSER_INSTALL=echo p").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "bench/check.sh") || strings.Contains(string(out), "valgrind") {
		t.Errorf("make test runs the instruction counts:\n%s", out)
	}
}
