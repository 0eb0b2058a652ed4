package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
)

// chromiumPath is Debian's chromium, which scripts/install-browser.sh
// installs and the browser scripts launch.
const chromiumPath = "/usr/bin/chromium"

// Markup with script in it, as a hostile registrant or publisher would
// write it; the console must show it as text.
const (
	xssName = "<img src=x onerror=alert(1)>"
	xssNote = "<img src=x onerror=alert(2)>"
)

// browserDeps returns the directory with playwright-core's node_modules
// (PLAYWRIGHT_DIR, as `make test` passes it from scripts/install-browser.sh).
// Without Chromium, node or playwright-core the test is skipped, and fails
// when CI is true.
func browserDeps(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; run: PLAYWRIGHT_DIR=$(bash scripts/install-browser.sh) go test -run TestConsole ./e2e/"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing("no Chromium at %s", chromiumPath)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("no node on the PATH")
	}
	dir := os.Getenv("PLAYWRIGHT_DIR")
	if dir == "" {
		missing("PLAYWRIGHT_DIR is not set")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing("PLAYWRIGHT_DIR %s has no node_modules/playwright-core", dir)
	}
	return dir
}

// screenshotDir is where the browser scripts save their screenshots: a new
// directory under $TMPDIR that outlives the test (CONSOLE_SCREENSHOTS
// names another), printed in the test log.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "micro-console-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", dir)
	return dir
}

// browserScript runs e2e/browser/NAME.mjs with environ and returns the
// JSON of its RESULT line; a script that fails fails the test.
func browserScript(t *testing.T, environ []string, name string) map[string]any {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "e2e", "browser", name+".mjs"))
	cmd.Env = environ
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var result map[string]any
	scanner := bufio.NewScanner(strings.NewReader(string(out)))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		if line, ok := strings.CutPrefix(scanner.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(line), &result); err != nil {
				t.Fatalf("%s.mjs printed a RESULT that is not JSON: %v\n%s", name, err, line)
			}
		}
	}
	if err != nil {
		t.Fatalf("%s.mjs: %v\nstdout:\n%s\nstderr:\n%s", name, err, out, stderr.String())
	}
	if result == nil {
		t.Fatalf("%s.mjs printed no RESULT line\nstdout:\n%s\nstderr:\n%s", name, out, stderr.String())
	}
	if shots, ok := result["screenshots"].([]any); ok {
		for _, s := range shots {
			t.Logf("screenshot %s", s)
		}
	}
	return result
}

// registerHostile registers a service whose name, version, node ID and
// metadata are markup, straight in the registry (the command line refuses
// such names; a hostile registrant would not use it).
func registerHostile(t *testing.T, b backend) {
	t.Helper()
	lookup := func(key string) (string, bool) {
		for _, kv := range b.env {
			if k, v, ok := strings.Cut(kv, "="); ok && k == key {
				return v, true
			}
		}
		return "", false
	}
	cfg, err := config.FromEnv(lookup)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := cfg.NewRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if closer, ok := reg.(interface{ Close() error }); ok {
		t.Cleanup(func() { _ = closer.Close() })
	}
	svc := &registry.Service{
		Name:     xssName,
		Version:  "<b>1</b>",
		Metadata: map[string]string{"note": xssNote},
		Endpoints: []*registry.Endpoint{{Name: "<script>alert(5)</script>.Call",
			Metadata: map[string]string{"stream": "unary"}}},
		Nodes: []*registry.Node{{ID: "<svg onload=alert(6)>", Address: "127.0.0.1:9", Metadata: map[string]string{"note": xssNote, "protocol": "mucp"}}},
	}
	if err := reg.Register(t.Context(), svc, registry.WithTTL(10*time.Minute)); err != nil {
		t.Fatalf("register the hostile service: %v", err)
	}
}

// TestConsole runs the web console of `micro api` in Chromium against
// `micro server`, two greeters and the kitchen echo server, one browser
// script per page (e2e/browser/*.mjs); every script fails on a request to
// a host other than the gateway, on a dialog and on a script error.
func TestConsole(t *testing.T) {
	playwrightDir := browserDeps(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	kitchenBin := filepath.Join(t.TempDir(), "kitchen")
	build := exec.Command("go", "build", "-o", kitchenBin, "./e2e/kitchen")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build e2e/kitchen: %v\n%s", err, out)
	}

	b := natsBackend(t)
	greeters := []*process{startGreeter(t, b), startGreeter(t, b)}
	start(t, env(append([]string{
		"MICRO_SERVER_ADDRESS=127.0.0.1:0",
		"MICRO_REGISTER_TTL=" + greeterTTL.String(),
		"MICRO_REGISTER_INTERVAL=" + greeterInterval.String(),
		"KITCHEN_PROTO_DIR=" + filepath.Join(root, "pkg", "call", "testdata"),
	}, b.env...)...), kitchenBin)
	waitForNodes(t, b, 2)
	testutil.Eventually(t, 30*time.Second, func() error {
		if services, res := getService(t, b, "kitchen"); countNodes(services) != 1 {
			return fmt.Errorf("kitchen is not registered: %s", res)
		}
		return nil
	})
	registerHostile(t, b)

	apiAddr := freeAddr(t)
	api := start(t, env(b.env...), microBin, "api", "--address", apiAddr, "--open", "--log-format", "none")
	consoleURL := "http://" + apiAddr + "/ui/"
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(api.Output(), consoleURL+"\n") {
			return fmt.Errorf("micro api --open has not printed %s: %q", consoleURL, api.Output())
		}
		return nil
	})

	services, _ := getService(t, b, "greeter")
	var addresses []string
	for _, svc := range services {
		for _, n := range svc.Nodes {
			addresses = append(addresses, n.Address)
		}
	}
	scriptEnv := env(append([]string{
		"GATEWAY_URL=http://" + apiAddr,
		"PLAYWRIGHT_DIR=" + playwrightDir,
		"OUT_DIR=" + screenshotDir(t),
		"MICRO_BIN=" + microBin,
		"NODE_ADDRESSES=" + strings.Join(addresses, ","),
		"XSS_NAME=" + xssName,
		"XSS_NOTE=" + xssNote,
		"KILL_PID=" + strconv.Itoa(greeters[1].cmd.Process.Pid),
		"WITHIN_MS=" + strconv.Itoa(int((greeterTTL + 4*time.Second).Milliseconds())),
	}, b.env...)...)

	t.Run("call", func(t *testing.T) {
		res := browserScript(t, scriptEnv, "call")
		// "Copy as micro call", run here, prints the response the page showed.
		command, _ := res["microCommand"].(string)
		if !strings.HasPrefix(command, "micro call ") {
			t.Fatalf("copied command %q is not a micro call", command)
		}
		shell := exec.Command("sh", "-c", command)
		shell.Env = env(append([]string{"PATH=" + filepath.Dir(microBin) + string(os.PathListSeparator) + os.Getenv("PATH")}, b.env...)...)
		out, err := shell.Output()
		if err != nil {
			t.Fatalf("run the copied command %s: %v\n%s", command, err, out)
		}
		var printed any
		if err := json.Unmarshal(out, &printed); err != nil {
			t.Fatalf("the copied command printed what is not JSON: %v\n%s", err, out)
		}
		if shown := res["helloResponse"]; !reflect.DeepEqual(printed, shown) {
			t.Errorf("the copied command %s printed %v; the page showed %v", command, printed, shown)
		}
		// And "copy as curl", on the gateway's plain route.
		curlCommand, _ := res["curlCommand"].(string)
		if _, err := exec.LookPath("curl"); err != nil {
			// The checks below still run; in CI the missing curl fails.
			if testenv.InCI() {
				t.Error("CI: no curl on the PATH to run the copied curl command")
			} else {
				t.Log("no curl on the PATH: the copied curl command is not run")
			}
		} else {
			out, err := exec.Command("sh", "-c", curlCommand).Output()
			var got any
			if err != nil || json.Unmarshal(out, &got) != nil || !reflect.DeepEqual(got, res["helloResponse"]) {
				t.Errorf("the copied command %s printed %s (%v); the page showed %v", curlCommand, out, err, res["helloResponse"])
			}
		}
		if shown := res["node"]; shown == "" {
			t.Error("the page showed no node")
		}
	})
	t.Run("kitchen", func(t *testing.T) { browserScript(t, scriptEnv, "kitchen") })
	t.Run("topics", func(t *testing.T) { browserScript(t, scriptEnv, "topics") })
	t.Run("load", func(t *testing.T) { browserScript(t, scriptEnv, "load") })
	t.Run("xss", func(t *testing.T) { browserScript(t, scriptEnv, "xss") })
	t.Run("auth", func(t *testing.T) {
		// A second gateway that asks for a token.
		addr := freeAddr(t)
		const token = "console-test-token"
		start(t, env(b.env...), microBin, "api", "--address", addr, "--auth-token", token, "--log-format", "none")
		testutil.Eventually(t, 20*time.Second, func() error {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		})
		browserScript(t, append(slices.Clone(scriptEnv), "GATEWAY_URL=http://"+addr, "API_TOKEN="+token), "auth")
	})
	// Last: it kills a greeter.
	t.Run("services", func(t *testing.T) {
		res := browserScript(t, scriptEnv, "services")
		if code := greeters[1].wait(t, 10*time.Second); code != -1 {
			t.Errorf("the greeter the script killed exited with %d, not by SIGKILL", code)
		}
		t.Logf("the page showed 1/1 %v ms after kill -9 (TTL %s)", res["tookMs"], greeterTTL)
	})
}
