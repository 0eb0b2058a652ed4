package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startGreeter serves the greeter with reflection and health on 127.0.0.1.
func startGreeter(t *testing.T) string {
	t.Helper()
	server := grpc.NewServer()
	greeterpb.RegisterGreeterServer(server, handler.New())
	healthpb.RegisterHealthServer(server, health.NewServer())
	reflection.Register(server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(lis)
	t.Cleanup(server.Stop)
	return lis.Addr().String()
}

// env is a hermetic environment: caches and config in the test's own
// directories.
func env(t *testing.T, extra map[string]string) func(string) (string, bool) {
	t.Helper()
	vars := map[string]string{"XDG_CACHE_HOME": t.TempDir(), "HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir()}
	for k, v := range extra {
		vars[k] = v
	}
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// natsFactory is a factory over an embedded NATS server, with greeter
// registered in it.
type natsFixture struct {
	cfg config.Config
	reg registry.Registry
}

func newNATSFixture(t *testing.T, lookupEnv func(string) (string, bool)) *natsFixture {
	t.Helper()
	srv := testenv.NATS(t)
	cfg := config.Config{Registry: config.RegistryNATS, RegistryAddress: srv.URL(), Timeout: 10 * time.Second, Env: lookupEnv}
	reg, err := cfg.NewRegistry(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.(io.Closer).Close() })
	fx := &natsFixture{cfg: cfg, reg: reg}
	fx.register(t, "greeter", startGreeter(t))
	return fx
}

func (fx *natsFixture) register(t *testing.T, name, addr string) {
	t.Helper()
	svc := &registry.Service{Name: name, Version: "1.0.0", Nodes: []*registry.Node{{ID: name + "-1", Address: addr}}}
	if err := fx.reg.Register(testContext(t), svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
}

func (fx *natsFixture) factory(t *testing.T, ios *iostreams.IOStreams) *cmdutil.Factory {
	t.Helper()
	cfg := fx.cfg
	f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) { return cfg, nil }}
	t.Cleanup(func() { f.Close() })
	return f
}

// runCmd runs `micro mcp args...` against f to completion.
func runCmd(t *testing.T, f *cmdutil.Factory, output string, args ...string) error {
	t.Helper()
	f.OutputFormat = func() string { return output }
	cmd := NewCmdMCP(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	return cmd.ExecuteContext(testContext(t))
}

func TestNewCmdMCP(t *testing.T) {
	cases := []struct {
		args    []string
		env     map[string]string
		wantErr string
		check   func(*testing.T, *Options)
	}{
		{args: []string{"serve"}, check: func(t *testing.T, o *Options) {
			if o.Address != "" || o.Descriptions != "comments" || o.MaxStreamMessages != 100 {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{args: []string{"serve", "--address", "7000"}, check: func(t *testing.T, o *Options) {
			if o.Address != "127.0.0.1:7000" {
				t.Errorf("a port alone should listen on loopback, have %s", o.Address)
			}
		}},
		{args: []string{"serve", "--address", ":7000"}, check: func(t *testing.T, o *Options) {
			if o.Address != "127.0.0.1:7000" {
				t.Errorf("a port alone should listen on loopback, have %s", o.Address)
			}
		}},
		{args: []string{"serve", "--address", "0.0.0.0:7000"}, wantErr: "--auth-token"},
		{args: []string{"serve", "--address", "0.0.0.0:7000", "--auth-token", "s3cret"}, check: func(t *testing.T, o *Options) {
			if o.Address != "0.0.0.0:7000" || o.AuthToken != "s3cret" {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"serve", "--address", "0.0.0.0:7000"}, env: map[string]string{EnvAuthToken: "from-env"}, check: func(t *testing.T, o *Options) {
			if o.AuthToken != "from-env" {
				t.Errorf("token from $%s: %+v", EnvAuthToken, o)
			}
		}},
		{args: []string{"serve", "--auth-token", "x"}, wantErr: "--auth-token is for HTTP"},
		{args: []string{"serve", "--allowed-host", "mcp.test"}, wantErr: "--allowed-host is for HTTP"},
		{args: []string{"serve", "--address", "7000", "--allowed-host", "http://mcp.test"}, wantErr: `allowed host "http://mcp.test"`},
		{args: []string{"serve", "--address", "7000", "--allowed-host", "a.test,b.test", "--allowed-host", "c.test"}, check: func(t *testing.T, o *Options) {
			if strings.Join(o.AllowedHosts, " ") != "a.test b.test c.test" {
				t.Errorf("--allowed-host: %q", o.AllowedHosts)
			}
		}},
		{args: []string{"serve", "--address", "7000"}, env: map[string]string{EnvAllowedHosts: "env.test"}, check: func(t *testing.T, o *Options) {
			if strings.Join(o.AllowedHosts, " ") != "env.test" {
				t.Errorf("hosts from $%s: %q", EnvAllowedHosts, o.AllowedHosts)
			}
		}},
		{args: []string{"serve", "--address", "nohost:port:x"}, wantErr: "not host:port"},
		{args: []string{"serve", "--descriptions", "all"}, wantErr: "--descriptions"},
		{args: []string{"serve", "--allow", "greeter/"}, wantErr: "allow pattern"},
		{args: []string{"serve", "--read-only", "--allow-publish"}, wantErr: "--read-only"},
		{args: []string{"tools", "--max-stream-messages", "0"}, wantErr: "positive"},
		{args: []string{"tools", "--allow", "greeter", "--deny", "greeter/Greeter.Stream", "-H", "a:b", "--read-only"}, check: func(t *testing.T, o *Options) {
			if len(o.Allow) != 1 || len(o.Deny) != 1 || len(o.Headers) != 1 || !o.ReadOnly {
				t.Errorf("%+v", o)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			lookup := env(t, tc.env)
			f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) { return config.Config{Env: lookup}, nil }}
			var ran *Options
			cmd := NewCmdMCP(f, func(_ context.Context, _ string, o *Options) error { ran = o; return nil })
			cmd.SetArgs(tc.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if tc.wantErr != "" {
				var usage *cmdutil.UsageError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &usage) {
					t.Fatalf("want a usage error mentioning %q, have %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ran)
		})
	}
}

func TestToolsCommand(t *testing.T) {
	fx := newNATSFixture(t, env(t, nil))
	t.Run("json", func(t *testing.T) {
		ios, _, out, _ := iostreams.Test()
		if err := runCmd(t, fx.factory(t, ios), cmdutil.OutputJSON, "tools"); err != nil {
			t.Fatal(err)
		}
		var tools []struct {
			Name         string         `json:"name"`
			Kind         string         `json:"kind"`
			InputSchema  map[string]any `json:"inputSchema"`
			OutputSchema map[string]any `json:"outputSchema"`
		}
		if err := json.Unmarshal(out.Bytes(), &tools); err != nil {
			t.Fatalf("-o json: %v\n%s", err, out)
		}
		found := false
		for _, tool := range tools {
			if tool.Name == "greeter_Greeter_Hello" {
				found = true
				props, _ := tool.InputSchema["properties"].(map[string]any)
				if props["name"] == nil || tool.OutputSchema["properties"] == nil || tool.Kind != "unary" {
					t.Errorf("greeter_Greeter_Hello schemas: %+v", tool)
				}
			}
		}
		if !found {
			t.Errorf("no greeter_Greeter_Hello in %s", out)
		}
	})
	t.Run("table", func(t *testing.T) {
		ios, _, out, _ := iostreams.Test()
		if err := runCmd(t, fx.factory(t, ios), "", "tools", "--deny", "greeter/Greeter.Stream"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "greeter_Greeter_Hello\tunary\tgreeter\tgreeter.v1.Greeter.Hello") {
			t.Errorf("table lacks greeter_Greeter_Hello:\n%s", out)
		}
		if strings.Contains(out.String(), "greeter_Greeter_Stream") {
			t.Errorf("--deny did not hide greeter_Greeter_Stream:\n%s", out)
		}
	})
}

// serve runs `micro mcp serve args...` in the background until the test
// ends.
func serve(t *testing.T, f *cmdutil.Factory, ready func(string), args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cmd := NewCmdMCP(f, func(ctx context.Context, which string, o *Options) error {
		o.Ready = ready
		return serveRun(ctx, o)
	})
	cmd.SetArgs(append([]string{"serve"}, args...))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10s of its context")
		}
	})
}

func connect(t *testing.T, transport sdk.Transport, changed chan struct{}) *sdk.ClientSession {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "cmd-test"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	session, err := client.Connect(testContext(t), transport, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { session.Close() })
	return session
}

func callText(t *testing.T, session *sdk.ClientSession, name string, args any) (string, bool) {
	t.Helper()
	res, err := session.CallTool(testContext(t), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n"), res.IsError
}

func hasTool(t *testing.T, session *sdk.ClientSession, name string) bool {
	t.Helper()
	for tool, err := range session.Tools(testContext(t), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tool.Name == name {
			return true
		}
	}
	return false
}

// The command over stdio, against the embedded NATS registry and a real
// greeter: list, call, health, and a new service announced live.
func TestServeStdio(t *testing.T) {
	fx := newNATSFixture(t, env(t, nil))
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ios, _, _, _ := iostreams.Test()
	ios.In, ios.Out = inR, outW
	t.Cleanup(func() { inW.Close(); outW.Close() })
	serve(t, fx.factory(t, ios), nil)
	changed := make(chan struct{}, 4)
	session := connect(t, &sdk.IOTransport{Reader: outR, Writer: inW}, changed)

	if !hasTool(t, session, "greeter_Greeter_Hello") {
		t.Fatal("no greeter_Greeter_Hello")
	}
	if out, isErr := callText(t, session, "greeter_Greeter_Hello", map[string]any{"name": "Ada"}); isErr || out != `{"message":"Hello Ada"}` {
		t.Errorf("greeter_Greeter_Hello: %v %s", isErr, out)
	}
	if out, isErr := callText(t, session, "check_health", map[string]any{"service": "greeter"}); isErr || !strings.Contains(out, `"status":"SERVING"`) || !strings.Contains(out, `"serving":true`) {
		t.Errorf("check_health: %v %s", isErr, out)
	}
	fx.register(t, "hello", startGreeter(t))
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no notifications/tools/list_changed after a service registered")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if !hasTool(t, session, "hello_Greeter_Hello") {
			return fmt.Errorf("no hello_Greeter_Hello yet")
		}
		return nil
	})
}

// The command over streamable HTTP with a bearer token: list, call, and a
// new service announced live on the session's event stream.
func TestServeHTTP(t *testing.T) {
	fx := newNATSFixture(t, env(t, nil))
	ios, _, _, _ := iostreams.Test()
	ready := make(chan string, 1)
	serve(t, fx.factory(t, ios), func(addr string) { ready <- addr }, "--address", "127.0.0.1:0", "--auth-token", "s3cret", "--deny", "*/Greeter.Stream")
	var addr string
	select {
	case addr = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20s")
	}
	url := "http://" + addr + "/mcp"

	for _, header := range []string{"", "Bearer wrong"} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: want 401, have %d", header, resp.StatusCode)
		}
	}

	client := &http.Client{Transport: bearer{token: "s3cret", next: http.DefaultTransport}}
	changed := make(chan struct{}, 4)
	session := connect(t, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: client}, changed)
	if hasTool(t, session, "greeter_Greeter_Stream") {
		t.Error("--deny '*/Greeter.Stream' should hide greeter_Greeter_Stream")
	}
	if out, isErr := callText(t, session, "greeter_Greeter_Hello", map[string]any{"name": "Ada"}); isErr || !strings.Contains(out, "Hello Ada") {
		t.Errorf("greeter_Greeter_Hello: %v %s", isErr, out)
	}
	fx.register(t, "hello", startGreeter(t))
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no notifications/tools/list_changed over HTTP after a service registered")
	}
	if !hasTool(t, session, "hello_Greeter_Hello") {
		t.Error("no hello_Greeter_Hello after the change")
	}
}

// TestServeHTTPAllowedHosts: over HTTP on loopback, a Host that is no
// loopback name is refused with 403 naming --allowed-host, unless it is
// listed.
func TestServeHTTPAllowedHosts(t *testing.T) {
	fx := newNATSFixture(t, env(t, nil))
	ios, _, _, _ := iostreams.Test()
	ready := make(chan string, 1)
	serve(t, fx.factory(t, ios), func(addr string) { ready <- addr }, "--address", "127.0.0.1:0", "--allowed-host", "mcp.test")
	var addr string
	select {
	case addr = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20s")
	}
	post := func(host string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}`))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, host := range []string{"mcp.test", "localhost", "127.0.0.1:9"} {
		if code, body := post(host); code != http.StatusOK {
			t.Errorf("Host %s: want 200, have %d %s", host, code, body)
		}
	}
	code, body := post("evil.example")
	if code != http.StatusForbidden || !strings.Contains(body, `host \"evil.example\" refused`) || !strings.Contains(body, "start micro mcp serve with --allowed-host evil.example") || !strings.Contains(body, "mcp.test") {
		t.Errorf("Host evil.example: want 403 naming the host, the allowed ones and --allowed-host, have %d %s", code, body)
	}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
