package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/call"
)

// greeterProtoDir is the import path of the greeter's .proto file.
func greeterProtoDir(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "examples", "greeter", "proto")
}

// callEnv is the environment of micro in a call test: the backend and a
// descriptor cache of the test's own.
func callEnv(b backend, cacheHome string, extra ...string) []string {
	return env(append(append([]string{"XDG_CACHE_HOME=" + cacheHome}, b.env...), extra...)...)
}

// microIn runs the micro binary with stdin.
func microIn(t *testing.T, environ []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBin, args...)
	cmd.Env = environ
	cmd.Stdin = strings.NewReader(stdin)
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

// waitForNodes waits until n greeter nodes are registered in b.
func waitForNodes(t *testing.T, b backend, n int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		services, res := getService(t, b, "greeter")
		if have := countNodes(services); have != n {
			return fmt.Errorf("want %d greeter nodes, have %d: %s", n, have, res)
		}
		return nil
	})
}

// writeProtoset compiles the greeter's .proto file into a protoset file.
func writeProtoset(t *testing.T) string {
	t.Helper()
	src, err := call.NewProtoSource(context.Background(), []string{greeterProtoDir(t)}, "greeter.proto")
	if err != nil {
		t.Fatal(err)
	}
	var files []protoreflect.FileDescriptor
	src.Files().RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		files = append(files, fd)
		return true
	})
	data, err := proto.Marshal(call.DescriptorSetOf(files...))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "greeter.protoset")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every method kind of the greeter, found by name in `micro server`, with
// descriptors from reflection, from the .proto file and from a protoset.
func TestCallEveryMethodKind(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	protoDir := greeterProtoDir(t)
	protoset := writeProtoset(t)

	for _, source := range []struct {
		name  string
		flags []string
	}{
		{"reflection", nil},
		{"proto", []string{"--proto", "greeter.proto", "--import-path", protoDir}},
		{"protoset", []string{"--protoset", protoset}},
	} {
		t.Run(source.name, func(t *testing.T) {
			environ := callEnv(b, t.TempDir())
			cases := []struct {
				name  string
				stdin string
				args  []string
				want  string
			}{
				{"unary", "", []string{"call", "greeter", "Greeter.Hello", `{"name":"Ada","mood":"MOOD_HAPPY"}`},
					`{"message":"Hello Ada, lovely to see you!"}` + "\n"},
				{"unary from stdin", `{"name":"Ada"}`, []string{"call", "greeter", "greeter.v1.Greeter/Hello", "-d", "@-"},
					`{"message":"Hello Ada"}` + "\n"},
				{"server streaming", "", []string{"call", "greeter", "Greeter.Stream", `{"name":"Ada","count":3}`},
					`{"message":"Hello Ada","sequence":1}` + "\n" + `{"message":"Hello Ada","sequence":2}` + "\n" + `{"message":"Hello Ada","sequence":3}` + "\n"},
				{"client streaming", "{\"name\":\"Ann\"}\n{\"name\":\"Ben\"}\n{\"name\":\"Cy\"}\n", []string{"stream", "greeter", "Greeter.Collect"},
					`{"message":"Hello Ann, Ben and Cy","count":3}` + "\n"},
				{"bidi streaming", `{"name":"Ann"}{"name":"Ben","mood":2}`, []string{"stream", "greeter", "greeter.v1.Greeter.Chat"},
					`{"message":"Hello Ann","sequence":1}` + "\n" + `{"message":"Oh. Hello Ben.","sequence":2}` + "\n"},
				{"bidi streaming from arguments", "", []string{"stream", "greeter", "Greeter.Chat", `{"name":"Ann"}`, `{"name":"Ben"}`},
					`{"message":"Hello Ann","sequence":1}` + "\n" + `{"message":"Hello Ben","sequence":2}` + "\n"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					args := append(append(tc.args, "-o", "json"), source.flags...)
					res := microIn(t, environ, tc.stdin, args...)
					if res.code != 0 || res.stdout != tc.want {
						t.Errorf("want %q, have %s", tc.want, res)
					}
				})
			}
		})
	}

	// Indented JSON without -o json.
	res := micro(t, callEnv(b, t.TempDir()), "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`)
	if res.code != 0 || res.stdout != "{\n  \"message\": \"Hello Ada\"\n}\n" {
		t.Errorf("default output: %s", res)
	}
}

// A server without reflection is called with its .proto file; without it,
// the error says to give one.
func TestCallWithoutReflection(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b, "MICRO_SERVER_REFLECTION=false")
	waitForNodes(t, b, 1)
	environ := callEnv(b, t.TempDir())

	res := micro(t, environ, "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`)
	assertCleanError(t, res, 1, "reflection", "--proto")
	res = micro(t, environ, "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`, "-o", "json",
		"--proto", "greeter.proto", "--import-path", greeterProtoDir(t))
	if res.code != 0 || res.stdout != `{"message":"Hello Ada"}`+"\n" {
		t.Errorf("call with --proto: %s", res)
	}
	res = micro(t, environ, "describe", "greeter", "--protoset", writeProtoset(t))
	if res.code != 0 || !strings.Contains(res.stdout, "Collect  client streaming") {
		t.Errorf("describe with --protoset: %s", res)
	}
}

// The second call uses the descriptor cache: the greeter sees no
// reflection stream. --refresh and --no-cache ask again.
func TestDescriptorCache(t *testing.T) {
	b := natsBackend(t)
	greeter := startGreeter(t, b, "MICRO_LOG_LEVEL=debug")
	waitForNodes(t, b, 1)
	cacheHome := t.TempDir()
	environ := callEnv(b, cacheHome)
	streams := func() int { return strings.Count(greeter.Output(), `msg="reflection stream"`) }
	hello := func(flags ...string) {
		t.Helper()
		res := micro(t, environ, append([]string{"call", "greeter", "Greeter.Hello", `{"name":"Ada"}`}, flags...)...)
		if res.code != 0 {
			t.Fatalf("call: %s", res)
		}
	}

	hello()
	first := streams()
	if first == 0 {
		t.Fatalf("the first call should fetch the descriptors through reflection; greeter logged:\n%s", greeter.Output())
	}
	entries, err := os.ReadDir(filepath.Join(cacheHome, "micro", "descriptors"))
	var protosets, hints []string
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), ".protoset"):
			protosets = append(protosets, e.Name())
		case strings.HasSuffix(e.Name(), ".node"):
			hints = append(hints, e.Name()) // the node the next call connects to ahead
		default:
			t.Errorf("unexpected file in the descriptor cache: %s", e.Name())
		}
	}
	if err != nil || len(protosets) != 1 || !strings.HasPrefix(protosets[0], "greeter@1.0.0-") {
		t.Fatalf("want one cache entry for greeter@1.0.0, have %v (%v)", protosets, err)
	}
	if len(hints) != 1 || !strings.HasPrefix(hints[0], "greeter-") {
		t.Errorf("want the node of greeter's next call kept next to the descriptors, have %v", hints)
	}

	hello()
	hello("-o", "json")
	res := micro(t, environ, "describe", "greeter")
	if res.code != 0 {
		t.Fatalf("describe: %s", res)
	}
	res = micro(t, environ, "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`, "-v")
	if !strings.Contains(res.stderr, "from descriptor cache "+filepath.Join(cacheHome, "micro", "descriptors")) {
		t.Errorf("-v should say the method came from the cache:\n%s", res.stderr)
	}
	if have := streams(); have != first {
		t.Errorf("warm calls opened reflection streams: %d before, %d after", first, have)
	}

	hello("--refresh")
	refreshed := streams()
	if refreshed == first {
		t.Error("--refresh should fetch through reflection")
	}
	hello("--no-cache")
	if streams() == refreshed {
		t.Error("--no-cache should ask through reflection")
	}
}

// One of three nodes is killed during a loop of calls: no call fails.
func TestCallFailover(t *testing.T) {
	b := natsBackend(t)
	greeters := []*process{startGreeter(t, b), startGreeter(t, b), startGreeter(t, b)}
	waitForNodes(t, b, 3)
	environ := callEnv(b, t.TempDir())
	for i := range 30 {
		if i == 5 {
			greeters[1].signal(syscall.SIGKILL) // stays registered until its TTL
		}
		res := micro(t, environ, "call", "greeter", "Greeter.Hello", fmt.Sprintf(`{"name":"call %d"}`, i), "-o", "json")
		if res.code != 0 {
			t.Fatalf("call %d failed: %s", i, res)
		}
	}
	// Without retries, a call that picks a dead node fails as Unavailable,
	// naming the node. The killed greeter may have expired by now (its TTL
	// is 3s, and race-built calls on a loaded machine are slow): a node
	// registered at a closed port stands for it.
	dead := freeAddr(t)
	if res := micro(t, environ, "register", "service", "--name", "greeter", "--version", "1.0.0", "--address", dead, "--ttl", "5m"); res.code != 0 {
		t.Fatalf("register the dead node: %s", res)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		res := micro(t, environ, "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`, "--retries", "0")
		if res.code == 0 {
			return errors.New("still picking live nodes")
		}
		assertCleanError(t, res, 78, "connection refused", "micro health greeter")
		return nil
	})
}

func TestHealth(t *testing.T) {
	b := natsBackend(t)
	first := startGreeter(t, b)
	startGreeter(t, b)
	waitForNodes(t, b, 2)
	environ := env(b.env...)

	res := micro(t, environ, "health", "greeter")
	if res.code != 0 || strings.Count(res.stdout, "\tSERVING\t") != 2 {
		t.Fatalf("two serving nodes: %s", res)
	}
	first.signal(syscall.SIGKILL)
	res = micro(t, environ, "health", "greeter", "-o", "json")
	var nodes []struct{ Node, Address, Status, Error string }
	if err := json.Unmarshal([]byte(res.stdout), &nodes); err != nil || len(nodes) != 2 {
		t.Fatalf("health -o json: %v: %s", err, res)
	}
	if res.code != 1 || !strings.Contains(res.stderr, "1 of 2 nodes not serving") {
		t.Errorf("a dead node: want exit 1, have %s", res)
	}
	statuses := nodes[0].Status + " " + nodes[1].Status
	if !strings.Contains(statuses, "SERVING") || !strings.Contains(statuses, "UNREACHABLE") {
		t.Errorf("statuses: %+v", nodes)
	}
	assertCleanError(t, micro(t, environ, "health", "nosuch"), 1, "nosuch", "micro list services")
}

func TestCompleteCalls(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	environ := callEnv(b, t.TempDir())
	res := micro(t, environ, "__complete", "call", "")
	if res.code != 0 || !strings.Contains(res.stdout, "greeter\n") {
		t.Errorf("service names: %s", res)
	}
	res = micro(t, environ, "__complete", "call", "greeter", "")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "Greeter.Hello\nGreeter.Stream\nGreeter.Collect\nGreeter.Chat\n") {
		t.Errorf("endpoints: %s", res)
	}
	res = micro(t, environ, "__complete", "stream", "greeter", "Greeter.C")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "Greeter.Collect\nGreeter.Chat\n") {
		t.Errorf("endpoints with a prefix: %s", res)
	}
}

// Bad input to the calling commands: one clear line, the documented exit
// code, no stack trace.
func TestCallBadInput(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	environ := callEnv(b, t.TempDir())
	closed := freeAddr(t)

	// A port that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()

	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, []byte(`{"name":"`+strings.Repeat("x", 5<<20)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := micro(t, env(b.env...), "register", "service", "--name", "ghost", "--address", closed, "--ttl", "1m"); res.code != 0 {
		t.Fatalf("register ghost: %s", res)
	}

	hello := func(args ...string) []string { return append([]string{"call", "greeter", "Greeter.Hello"}, args...) }
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"malformed JSON", hello(`{"name":`), 2, []string{"malformed JSON"}},
		{"not an object", hello(`["Ada"]`), 2, []string{"want a JSON object for greeter.v1.HelloRequest"}},
		{"unknown field", hello(`{"nom":"Ada"}`), 2, []string{`unknown field "nom"`, "greeter.v1.HelloRequest"}},
		{"wrong type", hello(`{"name":7}`), 2, []string{"name", "string"}},
		{"unknown enum value", hello(`{"name":"Ada","mood":"SLEEPY"}`), 2, []string{"mood", "SLEEPY"}},
		{"unknown service", []string{"call", "nosuch", "Greeter.Hello", "{}"}, 1, []string{`"nosuch"`, "not found", "micro list services"}},
		{"unknown method", hello2("Greeter.Goodbye"), 1, []string{`"Goodbye"`, "Hello, Stream, Collect, Chat"}},
		{"unknown grpc service", hello2("Farewell.Hello"), 1, []string{`"Farewell"`, "greeter.v1.Greeter"}},
		{"malformed endpoint", hello2("Hello"), 2, []string{"Service.Method"}},
		{"unreachable node", []string{"call", "ghost", "Greeter.Hello", "{}"}, 78, []string{"connect to " + closed + ": connection refused"}},
		{"unreachable address", []string{"call", "greeter", "Greeter.Hello", "{}", "--address", closed}, 78, []string{"connect to " + closed + ": connection refused", "--address"}},
		{"connect timeout", []string{"call", "greeter", "Greeter.Hello", "{}", "--address", silent.Addr().String(), "--connect-timeout", "300ms"}, 78,
			[]string{"connect to " + silent.Addr().String(), "no connection within 300ms"}},
		{"deadline exceeded", hello(`{"name":"Ada","delayMs":5000}`, "--timeout", "300ms"), 68, []string{"DeadlineExceeded (4)", "300ms (--timeout)"}},
		{"invalid argument", hello(`{"name":""}`), 67, []string{"InvalidArgument (3)", "name is required"}},
		{"server-side range check", []string{"call", "greeter", "Greeter.Stream", `{"name":"Ada","count":5000}`}, 67, []string{"count must be between 1 and 1000"}},
		{"message over the size limit", hello("-d", "@"+big), 72, []string{"ResourceExhausted (8)", "larger than max"}},
		{"response over --max-msg-size", hello(`{"name":"Ada"}`, "--max-msg-size", "8"), 72, []string{"ResourceExhausted (8)"}},
		{"bad header", hello("{}", "-H", "nocolon"), 2, []string{"key:value"}},
		{"reserved header", hello("{}", "-H", "grpc-timeout:1S"), 2, []string{"reserved"}},
		{"too many arguments", hello("{}", "{}"), 2, []string{"at most one JSON request"}},
		{"missing endpoint", []string{"call", "greeter"}, 2, []string{"an endpoint"}},
		{"two requests to a unary method", hello("{} {}"), 2, []string{"takes one request"}},
		{"bad address flag", hello("{}", "--address", "nohostport"), 2, []string{"host:port"}},
		{"missing proto file", hello("{}", "--proto", "nosuch.proto"), 1, []string{"nosuch.proto", "--import-path"}},
		{"missing protoset", hello("{}", "--protoset", "/nonexistent.protoset"), 1, []string{"/nonexistent.protoset"}},
		{"describe unknown symbol", []string{"describe", "greeter", "Nope"}, 1, []string{`"Nope"`, "greeter.v1.HelloRequest"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := micro(t, environ, c.args...)
			assertCleanError(t, res, c.code, c.want...)
			if res.stdout != "" {
				t.Errorf("nothing should go to stdout on error, have %q", res.stdout)
			}
		})
	}
}

// hello2 calls endpoint of greeter with an empty request.
func hello2(endpoint string) []string { return []string{"call", "greeter", endpoint, "{}"} }

// The same calls find the greeter through Consul.
func TestCallConsul(t *testing.T) {
	b, _ := consulBackend(t)
	startGreeter(t, b)
	startGreeter(t, b)
	waitForNodes(t, b, 2)
	environ := callEnv(b, t.TempDir())
	res := micro(t, environ, "call", "greeter", "Greeter.Hello", `{"name":"Ada"}`, "-o", "json")
	if res.code != 0 || res.stdout != `{"message":"Hello Ada"}`+"\n" {
		t.Errorf("call through consul: %s", res)
	}
	res = micro(t, environ, "stream", "greeter", "Greeter.Chat", `{"name":"Ann"}`, "-o", "json")
	if res.code != 0 || res.stdout != `{"message":"Hello Ann","sequence":1}`+"\n" {
		t.Errorf("stream through consul: %s", res)
	}
	if res := micro(t, environ, "health", "greeter"); res.code != 0 || strings.Count(res.stdout, "\tSERVING\t") != 2 {
		t.Errorf("health through consul: %s", res)
	}
}

// micro stream sends each request as its line is complete and prints each
// response as it arrives: a bidi call driven line by line, stdin still open.
func TestStreamInteractive(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)

	cmd := exec.Command(microBin, "stream", "greeter", "Greeter.Chat", "-o", "json")
	cmd.Env = callEnv(b, t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	for i, name := range []string{"Ann", "Ben", "Cy"} {
		if _, err := fmt.Fprintf(stdin, "{\"name\":%q}\n", name); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"message":"Hello %s","sequence":%d}`, name, i+1)
		testutil.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(stdout.String(), want) {
				return fmt.Errorf("no %s yet with stdin open; stdout %q, stderr %q", want, stdout.String(), stderr.String())
			}
			return nil
		})
	}
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("micro stream should exit 0 once stdin ends: %v; stderr %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("micro stream did not end after stdin closed")
	}
}
