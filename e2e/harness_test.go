package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testutil"
)

// binaries built once for the whole package.
var (
	microBin   string
	greeterBin string
	// mucpBin is the mucp fixture (internal/mucp), standing in for a
	// go-micro service; relayBin the example that calls greeter by name.
	mucpBin  string
	relayBin string
)

// hermetic are the variables every process a test starts gets: a home,
// config, cache and data directory of the test run's own (so that the
// developer's ~/.config/micro/config.json changes nothing), and Go's own
// directories where they were, so that `go mod tidy` in `micro new` still
// finds the module and build caches.
var hermetic []string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "micro-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if hermetic, err = hermeticEnv(filepath.Join(dir, "home")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	microBin = filepath.Join(dir, "micro")
	greeterBin = filepath.Join(dir, "greeter")
	mucpBin = filepath.Join(dir, "mucpgreeter")
	relayBin = filepath.Join(dir, "relay")
	for bin, pkg := range map[string]string{microBin: ".", greeterBin: "./examples/greeter", mucpBin: "./internal/mucp/mucpgreeter", relayBin: "./examples/relay"} {
		// With -race, as docs/testing.md says: the e2e tests run the
		// commands under the race detector too.
		build := exec.Command("go", "build", "-race", "-o", bin, pkg)
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n", pkg, err)
			return 1
		}
	}
	return m.Run()
}

// hermeticEnv makes home and the XDG directories below it, and reads Go's
// directories from `go env` before HOME changes under them.
func hermeticEnv(home string) ([]string, error) {
	names := []string{"GOPATH", "GOMODCACHE", "GOCACHE", "GOENV"}
	out, err := exec.Command("go", append([]string{"env"}, names...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("e2e: go env: %w", err)
	}
	goDirs := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(goDirs) != len(names) {
		return nil, fmt.Errorf("e2e: go env printed %q", out)
	}
	vars := []string{"HOME=" + home}
	for i, name := range names {
		vars = append(vars, name+"="+goDirs[i])
	}
	for _, v := range []struct{ name, dir string }{
		{"XDG_CONFIG_HOME", ".config"},
		{"XDG_CACHE_HOME", ".cache"},
		{"XDG_DATA_HOME", filepath.Join(".local", "share")},
	} {
		path := filepath.Join(home, v.dir)
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, err
		}
		vars = append(vars, v.name+"="+path)
	}
	return vars, nil
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("e2e: cannot find the source directory")
	}
	return filepath.Dir(filepath.Dir(file)), nil
}

// result is what one run of the micro binary did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// env is the environment of the processes a test starts: the test's own,
// without MICRO_* and CONSUL_* settings that could leak in, with HOME and
// the XDG directories of the test run (see hermetic), plus extra. A later
// setting of the same variable wins.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "MICRO_"), strings.HasPrefix(name, "CONSUL_"),
			strings.HasPrefix(name, "XDG_"), name == "HOME":
			continue
		}
		out = append(out, kv)
	}
	out = append(out, hermetic...)
	return append(out, extra...)
}

// micro runs the micro binary to completion with a deadline.
func micro(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBin, args...)
	cmd.Env = environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("micro %v: %v", args, err)
	}
	return res
}

// process is a long-running program a test started.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	output bytes.Buffer // stdout and stderr together
	done   chan struct{}
}

// start runs bin in the background; it is killed when the test ends.
func start(t *testing.T, environ []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = environ
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		scanner := bufio.NewScanner(pr)
		for scanner.Scan() {
			p.mu.Lock()
			p.output.WriteString(scanner.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", filepath.Base(bin), args, p.Output())
		}
	})
	return p
}

func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// Output is what the process printed so far.
func (p *process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("process %v still running after %s; output:\n%s", p.cmd.Args, within, p.Output())
		return -1
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startMicroServer runs `micro server` on a free port and returns its address.
func startMicroServer(t *testing.T) (string, *process) {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, env(), microBin, "server", "--address", addr, "--data-dir", t.TempDir())
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(p.Output(), "listening on") {
			return fmt.Errorf("micro server has not said where it listens: %q", p.Output())
		}
		return nil
	})
	return addr, p
}

// assertCleanError checks that a failed command printed one readable line
// and no Go internals.
func assertCleanError(t *testing.T, res result, wantCode int, wantIn ...string) {
	t.Helper()
	if res.code != wantCode {
		t.Errorf("want exit %d, have %s", wantCode, res)
	}
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Errorf("want an error message on stderr, have none")
	}
	if len(lines) > 2 {
		t.Errorf("want one line of error (plus at most a usage hint), have %d:\n%s", len(lines), res.stderr)
	}
	for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(res.stderr, bad) {
			t.Errorf("stderr shows Go internals (%q):\n%s", bad, res.stderr)
		}
	}
	for _, want := range wantIn {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr should mention %q:\n%s", want, res.stderr)
		}
	}
}
