package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/config"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
	"github.com/microtools/micro/pkg/service"
)

func TestNewCmdAPI(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o *Options)
	}{
		{name: "defaults", check: func(t *testing.T, o *Options) {
			if o.Address != DefaultAddress || o.AuthToken != "" || len(o.CORSOrigins) != 0 || !slices.Equal(o.Headers, []string{"Authorization", "X-*"}) {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{name: "flags", args: []string{"--address", "127.0.0.1:0", "--auth-token", "t", "--cors-origin", "http://a,http://b", "--cors-origin", "http://c", "--header", "X-Tenant"}, check: func(t *testing.T, o *Options) {
			if o.Address != "127.0.0.1:0" || o.AuthToken != "t" || len(o.CORSOrigins) != 3 || !slices.Equal(o.Headers, []string{"X-Tenant"}) {
				t.Errorf("flags: %+v", o)
			}
		}},
		{name: "bad address", args: []string{"--address", "8080"}, wantErr: `--address "8080" is not host:port`},
		{name: "both tokens", args: []string{"--auth-token", "a", "--auth-token-file", "f"}, wantErr: "not both"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "--log-format"},
		{name: "arguments", args: []string{"extra"}, wantErr: "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) { return config.Config{}, nil }}
			var got *Options
			cmd := NewCmdAPI(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want an error with %q, have %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

// gateway is a `micro api` run in-process over a real NATS registry with
// a real greeter, through the adapter of client.go.
type gateway struct {
	url    string
	stderr *testutil.SyncBuffer
}

func startGateway(t *testing.T, extra func(*Options)) *gateway {
	t.Helper()
	srv := testenv.NATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg, err := natsregistry.New(ctx, natsregistry.WithURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	svc, err := service.New(
		service.Name("greeter"), service.Registry(reg), service.Address("127.0.0.1:0"),
		service.Handle(func(s grpc.ServiceRegistrar) { greeterpb.RegisterGreeterServer(s, handler.New()) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })

	cacheHome := t.TempDir()
	stderr := &testutil.SyncBuffer{}
	ios, _, _, _ := iostreams.Test()
	ios.ErrOut = stderr
	f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) {
		return config.Config{Registry: config.RegistryNATS, RegistryAddress: srv.URL(), Timeout: 10 * time.Second, Env: func(k string) (string, bool) {
			if k == "XDG_CACHE_HOME" {
				return cacheHome, true
			}
			return "", false
		}}, nil
	}}
	t.Cleanup(func() { f.Close() })
	opts := &Options{
		Factory:      f,
		Address:      "127.0.0.1:0",
		Headers:      []string{"Authorization", "X-*"},
		MaxBodyBytes: 1 << 20,
		LogFormat:    "json",
	}
	if extra != nil {
		extra(opts)
	}
	ready := make(chan string, 1)
	opts.ready = func(addr string) { ready <- addr }
	done := make(chan error, 1)
	go func() { done <- apiRun(ctx, opts) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("micro api: %v", err)
			}
		})
		return &gateway{url: "http://" + addr, stderr: stderr}
	case err := <-done:
		t.Fatalf("micro api did not start: %v\n%s", err, stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("micro api did not start:\n%s", stderr)
	}
	return nil
}

// TestAPIConnectClient calls greeter through the gateway with connect-go's
// generic client over greeter's generated messages: Connect with the proto
// and the JSON codec, and gRPC-Web; unary, server streaming and an error
// with its details.
func TestAPIConnectClient(t *testing.T) {
	gw := startGateway(t, nil)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2cClient := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	protocols := []struct {
		name   string
		client *http.Client
		opts   []connect.ClientOption
	}{
		{"connect proto", http.DefaultClient, nil},
		{"connect json", http.DefaultClient, []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect proto over h2c", h2cClient, nil},
		{"grpc-web proto", http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb()}},
		{"grpc-web json", http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb(), connect.WithProtoJSON()}},
		{"grpc-web over h2c", h2cClient, []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			hello := connect.NewClient[greeterpb.HelloRequest, greeterpb.HelloResponse](p.client, gw.url+"/greeter.v1.Greeter/Hello", p.opts...)
			req := connect.NewRequest(&greeterpb.HelloRequest{Name: "Ada", Mood: greeterpb.Mood_MOOD_HAPPY})
			req.Header().Set("X-Echo", "connect-go")
			resp, err := hello.CallUnary(ctx, req)
			if err != nil {
				t.Fatalf("Hello: %v", err)
			}
			if resp.Msg.GetMessage() != "Hello Ada, lovely to see you!" {
				t.Errorf("Hello: %v", resp.Msg)
			}
			if resp.Header().Get("X-Echo") != "connect-go" || resp.Trailer().Get("X-Echo-Trailer") != "connect-go" {
				t.Errorf("want the header and trailer back, have %v and %v", resp.Header(), resp.Trailer())
			}

			_, err = hello.CallUnary(ctx, connect.NewRequest(&greeterpb.HelloRequest{}))
			var cerr *connect.Error
			if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInvalidArgument || cerr.Message() != "name is required" {
				t.Fatalf("want invalid_argument: name is required, have %v", err)
			}
			if len(cerr.Details()) != 1 {
				t.Fatalf("want one detail, have %v", cerr.Details())
			}
			detail, err := cerr.Details()[0].Value()
			if br, ok := detail.(*errdetails.BadRequest); err != nil || !ok || br.GetFieldViolations()[0].GetField() != "name" {
				t.Errorf("want a BadRequest about name, have %v, %v", detail, err)
			}

			stream := connect.NewClient[greeterpb.StreamRequest, greeterpb.HelloResponse](p.client, gw.url+"/greeter.v1.Greeter/Stream", p.opts...)
			s, err := stream.CallServerStream(ctx, connect.NewRequest(&greeterpb.StreamRequest{Name: "Ada", Count: 3}))
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			var seqs []int32
			for s.Receive() {
				seqs = append(seqs, s.Msg().GetSequence())
			}
			if err := s.Err(); err != nil {
				t.Fatalf("Stream: %v", err)
			}
			_ = s.Close()
			if !slices.Equal(seqs, []int32{1, 2, 3}) {
				t.Errorf("Stream: want sequences 1 2 3, have %v", seqs)
			}
		})
	}
	// The access log is structured JSON on stderr.
	testutil.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(gw.stderr.String(), `"msg":"request","method":"POST","path":"/greeter.v1.Greeter/Hello","status":200,"protocol":"connect"`) {
			return fmt.Errorf("no access log line for a Connect call in:\n%s", gw.stderr)
		}
		return nil
	})
}

// bufBin is the buf binary: $BUF_BIN, or scripts/install-buf.sh's cached
// build. It skips when missing, and fails under CI.
func bufBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("BUF_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("BUF_BIN=%s: %v", bin, err)
		}
		return bin
	}
	if path, err := exec.LookPath("buf"); err == nil {
		return path
	}
	msg := "buf not found: set BUF_BIN, or run scripts/install-buf.sh (make test does)"
	if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestAPIBufCurl calls greeter through the gateway with `buf curl`, over
// Connect and over gRPC-Web, unary and server streaming, with the schema
// from greeter's .proto file.
func TestAPIBufCurl(t *testing.T) {
	buf := bufBin(t)
	gw := startGateway(t, nil)
	schema, err := filepath.Abs(filepath.Join("..", "..", "examples", "greeter", "proto"))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	tests := []struct {
		protocol, method, body string
		want                   []string
	}{
		{"connect", "Hello", `{"name":"Ada"}`, []string{`"message": "Hello Ada"`}},
		{"connect", "Stream", `{"name":"Ada","count":2}`, []string{`"sequence": 1`, `"sequence": 2`}},
		{"grpcweb", "Hello", `{"name":"Ada"}`, []string{`"message": "Hello Ada"`}},
		{"grpcweb", "Stream", `{"name":"Ada","count":2}`, []string{`"sequence": 1`, `"sequence": 2`}},
	}
	for _, tt := range tests {
		t.Run(tt.protocol+" "+tt.method, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, buf, "curl", "--protocol", tt.protocol, "--schema", schema,
				"-H", "X-Echo: buf", "-v", "-d", tt.body, gw.url+"/greeter.v1.Greeter/"+tt.method)
			cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "BUF_CACHE_DIR="+filepath.Join(home, "buf"))
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("buf curl: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("want %s in buf curl's output:\n%s", want, stdout.String())
				}
			}
			if tt.method == "Hello" && !strings.Contains(strings.ToLower(stderr.String()), "x-echo: buf") {
				t.Errorf("want the X-Echo header back in buf curl -v:\n%s", stderr.String())
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), buf, "curl", "--protocol", "connect", "--schema", schema, "-d", `{}`, gw.url+"/greeter.v1.Greeter/Hello")
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "BUF_CACHE_DIR="+filepath.Join(home, "buf"))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "invalid_argument") || !strings.Contains(string(out), "name is required") {
			t.Errorf("want buf curl to fail with invalid_argument, have %v:\n%s", err, out)
		}
	})
}

// TestAPIAuthTokenFile reads the token from a file.
func TestAPIAuthTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, func(o *Options) { o.AuthTokenFile = file })
	for _, tt := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer from-file", 200}} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.url+"/greeter/Greeter.Hello", strings.NewReader(`{"name":"Ada"}`))
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Authorization %q: want %d, have %d", tt.auth, tt.want, resp.StatusCode)
		}
	}
}

// TestAPIGCPercent runs the collector at cmdutil.ServingGCPercent while serving,
// unless GOGC is set, and puts the process's target back when it stops.
func TestAPIGCPercent(t *testing.T) {
	gcPercent := func() int {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	before := gcPercent()
	for _, tt := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"GOGC unset", nil, cmdutil.ServingGCPercent},
		{"GOGC set", map[string]string{"GOGC": "150"}, before},
	} {
		t.Run(tt.name, func(t *testing.T) {
			startGateway(t, func(o *Options) {
				o.Factory.Env = func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			})
			if got := gcPercent(); got != tt.want {
				t.Errorf("while serving: want GC percent %d, have %d", tt.want, got)
			}
		})
		// The subtest's cleanup has stopped the gateway.
		if got := gcPercent(); got != before {
			t.Errorf("%s: after stopping: want GC percent %d back, have %d", tt.name, before, got)
		}
	}
}
