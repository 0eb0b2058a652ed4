package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
)

// EnvMCPNodeModules names the node_modules directory of e2e/mcpclient, as
// scripts/install-node-deps.sh prints it; make test sets it.
const EnvMCPNodeModules = "MICRO_MCP_NODE_MODULES"

// mcpClient prepares the TypeScript MCP client: client.mjs beside the
// installed node_modules, in a directory of the test's own. Without the
// packages or Node the test skips, and fails when CI is set.
func mcpClient(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		testenv.Unavailable(t, "%s; run: export %s=\"$(bash scripts/install-node-deps.sh)\"", fmt.Sprintf(format, args...), EnvMCPNodeModules)
	}
	modules := os.Getenv(EnvMCPNodeModules)
	if modules == "" {
		missing("%s is not set", EnvMCPNodeModules)
	}
	if _, err := os.Stat(filepath.Join(modules, "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		missing("no @modelcontextprotocol/sdk in %s: %v", modules, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("no node on PATH")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join(root, "e2e", "mcpclient", "client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "client.mjs")
}

// clientResult is what client.mjs prints.
type clientResult struct {
	Server struct {
		Name string `json:"name"`
	} `json:"server"`
	Tools  []string `json:"tools"`
	Result struct {
		IsError           bool            `json:"isError"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		Content           []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"result"`
}

// runMCPClient runs client.mjs with args and decodes what it printed.
func runMCPClient(t *testing.T, script string, environ []string, args ...string) clientResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Env = environ
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.mjs %v: %v\nstdout: %s\nstderr: %s", args, err, out, stderr.String())
	}
	var res clientResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("client.mjs printed what is not JSON: %v\n%s\nstderr: %s", err, out, stderr.String())
	}
	return res
}

func checkHello(t *testing.T, res clientResult) {
	t.Helper()
	if res.Server.Name != "micro" {
		t.Errorf("server name: want micro, have %q", res.Server.Name)
	}
	want := map[string]bool{"greeter_Greeter_Hello": false, "greeter_Greeter_Stream": false, "list_services": false, "describe_service": false, "check_health": false}
	for _, name := range res.Tools {
		if _, ok := want[name]; ok {
			want[name] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("tools/list lacks %s: %v", name, res.Tools)
		}
	}
	if res.Result.IsError || len(res.Result.Content) == 0 {
		t.Fatalf("greeter_Greeter_Hello failed: %+v", res.Result)
	}
	var structured struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(res.Result.StructuredContent, &structured); err != nil || structured.Message != "Hello Ada" {
		t.Errorf("structuredContent: want message Hello Ada, have %s (%v)", res.Result.StructuredContent, err)
	}
	if !strings.Contains(res.Result.Content[0].Text, "Hello Ada") {
		t.Errorf("text content: want Hello Ada, have %q", res.Result.Content[0].Text)
	}
}

// The TypeScript SDK's client spawns `micro mcp serve` over stdio, lists
// the tools and calls greeter_Greeter_Hello on a greeter found in `micro
// server`.
func TestMCPStdio(t *testing.T) {
	script := mcpClient(t)
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	environ := callEnv(b, t.TempDir())
	checkHello(t, runMCPClient(t, script, environ, "stdio", microBin, "mcp", "serve"))

	// A server stream, its answer checked against the output schema by
	// the client.
	res := runMCPClient(t, script, append(environ, "MCP_TOOL=greeter_Greeter_Stream", `MCP_ARGS={"name":"Ada","count":3}`), "stdio", microBin, "mcp", "serve")
	var stream struct {
		Count    int  `json:"count"`
		Complete bool `json:"complete"`
	}
	if err := json.Unmarshal(res.Result.StructuredContent, &stream); err != nil || stream.Count != 3 || !stream.Complete {
		t.Errorf("greeter_Greeter_Stream: want 3 messages, complete; have %s", res.Result.StructuredContent)
	}
}

// The same over streamable HTTP, with a bearer token.
func TestMCPHTTP(t *testing.T) {
	script := mcpClient(t)
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	environ := callEnv(b, t.TempDir(), "MICRO_MCP_AUTH_TOKEN=s3cret")
	p := start(t, environ, microBin, "mcp", "serve", "--address", "127.0.0.1:0")
	var url string
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, line := range strings.Split(p.Output(), "\n") {
			if _, rest, ok := strings.Cut(line, "listening on "); ok {
				url = strings.TrimSpace(rest)
				return nil
			}
		}
		return fmt.Errorf("micro mcp serve has not said where it listens: %q", p.Output())
	})
	checkHello(t, runMCPClient(t, script, env(), "http", url, "s3cret"))

	// Without the token the client is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, "http", url)
	cmd.Env = env()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "missing or wrong bearer token") {
		t.Errorf("without the token: want the 401 of a missing token, have %v: %s", err, out)
	}
}

// `micro mcp tools` lists the greeter's tools without serving.
func TestMCPTools(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	res := micro(t, callEnv(b, t.TempDir()), "mcp", "tools", "-o", "json")
	if res.code != 0 {
		t.Fatalf("mcp tools: %s", res)
	}
	var tools []struct {
		Name        string         `json:"name"`
		InputSchema map[string]any `json:"inputSchema"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &tools); err != nil {
		t.Fatalf("mcp tools -o json: %v\n%s", err, res)
	}
	found := false
	for _, tool := range tools {
		found = found || tool.Name == "greeter_Greeter_Hello" && tool.InputSchema["type"] == "object"
	}
	if !found {
		t.Errorf("no greeter_Greeter_Hello with an object schema in %s", res.stdout)
	}
	bad := micro(t, callEnv(b, t.TempDir()), "mcp", "serve", "--address", "0.0.0.0:0")
	assertCleanError(t, bad, 2, "--auth-token")
}
