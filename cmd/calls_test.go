package cmd

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
)

// greeterProto is where the greeter's .proto file is, from this package.
var greeterProto = filepath.Join("..", "examples", "greeter", "proto")

// greeterServer is an in-process greeter on 127.0.0.1 with reflection and
// health, recording the request metadata of the calls it serves.
type greeterServer struct {
	addr   string
	health *health.Server

	mu       sync.Mutex
	incoming []metadata.MD
}

func startGreeterServer(t *testing.T, opts ...grpc.ServerOption) *greeterServer {
	t.Helper()
	gs := &greeterServer{health: health.NewServer()}
	record := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		gs.mu.Lock()
		gs.incoming = append(gs.incoming, md)
		gs.mu.Unlock()
		return next(ctx, req)
	}
	server := grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(record))...)
	greeterpb.RegisterGreeterServer(server, handler.New())
	healthpb.RegisterHealthServer(server, gs.health)
	reflection.Register(server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs.addr = lis.Addr().String()
	go server.Serve(lis)
	t.Cleanup(server.Stop)
	return gs
}

// runCall runs micro with a descriptor cache of the test's own.
func runCall(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLI(t, map[string]string{"XDG_CACHE_HOME": t.TempDir(), "MICRO_CONFIG": filepath.Join(t.TempDir(), "none.json")}, args...)
}

func TestCallAddress(t *testing.T) {
	server := startGreeterServer(t)
	hello := []string{"call", "--address", server.addr, "greeter", "Greeter.Hello"}
	cases := []struct {
		name       string
		args       []string
		wantOut    string
		wantCode   int
		wantStderr []string
	}{
		{"indented by default", append(hello, `{"name":"Ada"}`), "{\n  \"message\": \"Hello Ada\"\n}\n", 0, nil},
		{"compact with -o json", append(hello, `{"name":"Ada"}`, "-o", "json"), `{"message":"Hello Ada"}` + "\n", 0, nil},
		{"emit defaults and proto names", append(hello, `{"name":"Ada"}`, "-o", "json", "--emit-defaults"), `{"message":"Hello Ada","sequence":0}` + "\n", 0, nil},
		{"proto file instead of reflection", append(hello, `{"name":"Ada"}`, "-o", "json", "--proto", "greeter.proto", "--import-path", greeterProto), `{"message":"Hello Ada"}` + "\n", 0, nil},
		{"server stream", []string{"call", "--address", server.addr, "greeter", "greeter.v1.Greeter/Stream", `{"name":"Ada","count":2}`, "-o", "json"},
			`{"message":"Hello Ada","sequence":1}` + "\n" + `{"message":"Hello Ada","sequence":2}` + "\n", 0, nil},
		{"invalid argument", append(hello, `{}`), "", 67, []string{"code InvalidArgument (3): name is required"}},
		{"unknown field", append(hello, `{"nom":"Ada"}`), "", 2, []string{`unknown field "nom"`}},
		{"both body and -d", append(hello, `{}`, "-d", `{}`), "", 2, []string{"not both"}},
		{"bad header", append(hello, `{}`, "-H", "novalue"), "", 2, []string{"key:value"}},
		{"cert without key", append(hello, `{}`, "--cert", "c.pem"), "", 2, []string{"--cert and --key"}},
		{"import path without proto", append(hello, `{}`, "--import-path", "x"), "", 2, []string{"--import-path needs --proto"}},
		{"missing -d file", append(hello, "-d", "@/nonexistent.json"), "", 2, []string{"/nonexistent.json"}},
		{"unknown method", []string{"call", "--address", server.addr, "greeter", "Greeter.Bye"}, "", 1, []string{"Hello, Stream, Collect, Chat"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCall(t, tc.args...)
			if code != tc.wantCode || stdout != tc.wantOut {
				t.Fatalf("want exit %d and %q, have exit %d and %q; stderr:\n%s", tc.wantCode, tc.wantOut, code, stdout, stderr)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr should mention %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// A failed call prints the code, the message and the decoded details, and
// exits 64 + the code.
func TestCallStatusDetails(t *testing.T) {
	withDetails := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		st, err := status.New(codes.FailedPrecondition, "the greeter is tired").WithDetails(
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "name", Description: "too long"}}},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
		)
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	server := startGreeterServer(t, grpc.ChainUnaryInterceptor(withDetails))
	stdout, stderr, code := runCall(t, "call", "--address", server.addr, "greeter", "Greeter.Hello", `{"name":"Ada"}`)
	if code != 64+9 || stdout != "" {
		t.Fatalf("want exit 73 and no output, have %d, %q", code, stdout)
	}
	for _, want := range []string{
		"code FailedPrecondition (9): the greeter is tired",
		`detail type.googleapis.com/google.rpc.BadRequest {"fieldViolations":[{"field":"name","description":"too long"}]}`,
		`detail type.googleapis.com/google.rpc.RetryInfo {"retryDelay":"1.500s"}`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr should have %q:\n%s", want, stderr)
		}
	}
	if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines != 0 {
		t.Errorf("want one line of error, have:\n%s", stderr)
	}
}

func TestCallHeadersAndVerbose(t *testing.T) {
	server := startGreeterServer(t)
	stdout, stderr, code := runCall(t, "call", "--address", server.addr, "greeter", "Greeter.Hello", `{"name":"Ada"}`,
		"-H", "x-user: ada", "-H", "X-Trace:1", "-H", "x-token-bin:AAEC", "-v")
	if code != 0 || !strings.Contains(stdout, "Hello Ada") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	server.mu.Lock()
	md := server.incoming[0]
	server.mu.Unlock()
	if md.Get("x-user")[0] != "ada" || md.Get("x-trace")[0] != "1" || md.Get("x-token-bin")[0] != "\x00\x01\x02" {
		t.Errorf("metadata received: %v", md)
	}
	for _, want := range []string{
		"* node " + server.addr + " at " + server.addr,
		"* connected to " + server.addr + " in ",
		"* method /greeter.v1.Greeter/Hello (unary) from reflection at " + server.addr,
		"> x-user: ada",
		"> x-token-bin: AAEC",
		"< content-type: application/grpc",
		"* status OK",
		"* time: select ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v should print %q:\n%s", want, stderr)
		}
	}
}

func TestCallTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	tlsServer := startGreeterServer(t, grpc.Creds(credentials.NewTLS(pki.ServerConfig(false))))
	mtlsServer := startGreeterServer(t, grpc.Creds(credentials.NewTLS(pki.ServerConfig(true))))
	call := func(addr string, flags ...string) []string {
		return append([]string{"call", "--address", addr, "greeter", "Greeter.Hello", `{"name":"Ada"}`, "-o", "json", "--connect-timeout", "3s"}, flags...)
	}
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout when 0, in stderr otherwise
	}{
		{"tls with the CA", call(tlsServer.addr, "--cacert", pki.CAFile), 0, "Hello Ada"},
		{"tls with --tls and the CA", call(tlsServer.addr, "--tls", "--cacert", pki.CAFile, "--authority", "greeter"), 0, "Hello Ada"},
		{"tls insecure", call(tlsServer.addr, "--insecure"), 0, "Hello Ada"},
		{"tls with the system CAs", call(tlsServer.addr, "--tls"), 78, "certificate"},
		{"tls with another CA", call(tlsServer.addr, "--cacert", pki.OtherCAFile), 78, "certificate"},
		{"tls with a wrong authority", call(tlsServer.addr, "--cacert", pki.CAFile, "--authority", "other.example"), 78, "other.example"},
		{"plaintext to tls", call(tlsServer.addr), 78, "connect to " + tlsServer.addr},
		{"mtls with a client certificate", call(mtlsServer.addr, "--cacert", pki.CAFile, "--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile), 0, "Hello Ada"},
		{"mtls without a client certificate", call(mtlsServer.addr, "--cacert", pki.CAFile), 78, "client certificate"},
		{"tls to plaintext", call(startGreeterServer(t).addr, "--cacert", pki.CAFile), 78, "connect to "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCall(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("want exit %d, have %d; stdout %q stderr:\n%s", tc.wantCode, code, stdout, stderr)
			}
			where := stdout
			if code != 0 {
				where = stderr
				if stdout != "" {
					t.Errorf("nothing should go to stdout on failure, have %q", stdout)
				}
			}
			if !strings.Contains(where, tc.want) {
				t.Errorf("want %q in:\n%s", tc.want, where)
			}
		})
	}

	// describe and health take the same TLS flags.
	stdout, stderr, code := runCall(t, "describe", "--address", mtlsServer.addr, "greeter", "Greeter.Hello",
		"--cacert", pki.CAFile, "--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile)
	if code != 0 || !strings.Contains(stdout, "method /greeter.v1.Greeter/Hello (unary)") {
		t.Errorf("describe over mTLS: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	stdout, stderr, code = runCall(t, "health", "--address", mtlsServer.addr, "greeter",
		"--cacert", pki.CAFile, "--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile)
	if code != 0 || !strings.Contains(stdout, "SERVING") {
		t.Errorf("health over mTLS: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
}

func TestStreamArguments(t *testing.T) {
	server := startGreeterServer(t)
	stdout, stderr, code := runCall(t, "stream", "--address", server.addr, "greeter", "Greeter.Chat", `{"name":"Ann"}`, `{"name":"Ben"}`, "-o", "json")
	want := `{"message":"Hello Ann","sequence":1}` + "\n" + `{"message":"Hello Ben","sequence":2}` + "\n"
	if code != 0 || stdout != want {
		t.Fatalf("want %q, have exit %d %q; stderr %s", want, code, stdout, stderr)
	}
	stdout, _, code = runCall(t, "stream", "--address", server.addr, "greeter", "Greeter.Collect", "-d", `{"name":"Ann"}{"name":"Ben"}`, "-o", "json")
	if want := `{"message":"Hello Ann and Ben","count":2}` + "\n"; code != 0 || stdout != want {
		t.Errorf("collect: want %q, have exit %d %q", want, code, stdout)
	}
	if _, stderr, code := runCall(t, "stream", "greeter"); code != 2 || !strings.Contains(stderr, "an endpoint") {
		t.Errorf("stream without an endpoint: exit %d, %s", code, stderr)
	}
}

func TestDescribe(t *testing.T) {
	// From .proto files: no server, no registry.
	stdout, stderr, code := runCall(t, "describe", "greeter", "--proto", "greeter.proto", "--import-path", greeterProto)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"service greeter.v1.Greeter (greeter.proto)",
		"Hello    unary             greeter.v1.HelloRequest   greeter.v1.HelloResponse",
		"Chat     bidi streaming    greeter.v1.HelloRequest   greeter.v1.HelloResponse",
		"message HelloRequest {",
		"// name is who to greet; it must not be empty.", // comments, from the .proto
		"enum Mood {",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("describe should print %q:\n%s", want, stdout)
		}
	}

	server := startGreeterServer(t)
	stdout, stderr, code = runCall(t, "describe", "--address", server.addr, "greeter", "-o", "json")
	var desc struct {
		Services []struct {
			Name    string
			Methods []struct{ Name, Kind string }
		}
		Messages []struct{ Name string }
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &desc) != nil {
		t.Fatalf("describe -o json: exit %d, %q, %s", code, stdout, stderr)
	}
	if len(desc.Services) != 1 || desc.Services[0].Name != "greeter.v1.Greeter" || len(desc.Services[0].Methods) != 4 || desc.Services[0].Methods[2].Kind != "client streaming" {
		t.Errorf("services: %+v", desc.Services)
	}
	if len(desc.Messages) != 4 {
		t.Errorf("want the 4 messages the methods use, have %+v", desc.Messages)
	}

	for symbol, want := range map[string]string{
		"HelloRequest":               "message HelloRequest {",
		"greeter.v1.Mood":            "enum Mood {",
		"Greeter.Stream":             "method /greeter.v1.Greeter/Stream (server streaming)",
		"greeter.v1.Greeter/Collect": "method /greeter.v1.Greeter/Collect (client streaming)",
		"Greeter":                    "service greeter.v1.Greeter",
	} {
		stdout, stderr, code := runCall(t, "describe", "--address", server.addr, "greeter", symbol)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("describe %s: want %q, have exit %d %q %s", symbol, want, code, stdout, stderr)
		}
	}
	_, stderr, code = runCall(t, "describe", "--address", server.addr, "greeter", "Nope")
	if code != 1 || !strings.Contains(stderr, "greeter.v1.HelloRequest") {
		t.Errorf("an unknown symbol should list what exists: exit %d, %s", code, stderr)
	}
}

func TestHealthAddress(t *testing.T) {
	server := startGreeterServer(t)
	stdout, stderr, code := runCall(t, "health", "--address", server.addr, "greeter")
	if code != 0 || stdout != "-\t"+server.addr+"\t-\tSERVING\t-\n" {
		t.Fatalf("exit %d, %q, %s", code, stdout, stderr)
	}
	server.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	stdout, stderr, code = runCall(t, "health", "--address", server.addr, "greeter")
	if code != 1 || !strings.Contains(stdout, "NOT_SERVING") || !strings.Contains(stderr, "1 of 1 nodes not serving") {
		t.Errorf("not serving: exit %d, %q, %s", code, stdout, stderr)
	}
	stdout, _, code = runCall(t, "health", "--address", server.addr, "greeter", "--service", "nosuch.Service", "-o", "json")
	var results []map[string]string
	if code != 1 || json.Unmarshal([]byte(stdout), &results) != nil || results[0]["status"] != "SERVICE_UNKNOWN" {
		t.Errorf("unknown health service: exit %d, %q", code, stdout)
	}
}

func TestCompleteEndpoints(t *testing.T) {
	server := startGreeterServer(t)
	stdout, _, code := runCall(t, "__complete", "call", "--address", server.addr, "greeter", "Greeter.C")
	if code != 0 || !strings.HasPrefix(stdout, "Greeter.Collect\nGreeter.Chat\n:4\n") {
		t.Errorf("completion: exit %d, %q", code, stdout)
	}
}
