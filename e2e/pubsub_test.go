package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/internal/testutil"
)

// The pub/sub tests run `micro server`, `micro subscribe` and
// `micro publish` as a user would, and bare nats.go clients as the other
// side of interop.

// subscriber is a running `micro subscribe`, with stdout and stderr apart.
type subscriber struct {
	cmd            *exec.Cmd
	stdout, stderr *testutil.SyncBuffer
	done           chan struct{}
}

// startSubscriber runs `micro subscribe args...` and waits until it has
// subscribed. It is killed when the test ends.
func startSubscriber(t *testing.T, environ []string, args ...string) *subscriber {
	t.Helper()
	s := &subscriber{
		cmd:    exec.Command(microBin, append([]string{"subscribe"}, args...)...),
		stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, done: make(chan struct{}),
	}
	s.cmd.Env = environ
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("micro subscribe %v:\nstdout:\n%s\nstderr:\n%s", args, s.stdout, s.stderr)
		}
	})
	testutil.Eventually(t, 20*time.Second, func() error {
		select {
		case <-s.done:
			t.Fatalf("micro subscribe %v exited: %s", args, s.stderr)
		default:
		}
		if !strings.Contains(s.stderr.String(), "subscribed to") {
			return fmt.Errorf("micro subscribe has not subscribed yet: %q", s.stderr)
		}
		return nil
	})
	return s
}

// lines returns the lines printed so far.
func (s *subscriber) lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.stdout.String()))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// waitLines waits until the subscriber printed n lines.
func (s *subscriber) waitLines(t *testing.T, n int) []string {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		if have := len(s.lines()); have < n {
			return fmt.Errorf("%d of %d lines", have, n)
		}
		return nil
	})
	return s.lines()
}

// stop interrupts the subscriber as Ctrl-C does and returns its exit code.
func (s *subscriber) stop(t *testing.T) int {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(15 * time.Second):
		t.Fatal("micro subscribe still runs 15s after SIGINT")
		return -1
	}
}

// ndjsonMessage is a line of `micro subscribe -o json`.
type ndjsonMessage struct {
	Topic    string              `json:"topic"`
	Headers  map[string][]string `json:"headers"`
	Body     json.RawMessage     `json:"body"`
	Encoding string              `json:"encoding"`
	Type     string              `json:"type"`
	Received time.Time           `json:"received"`
	Stream   string              `json:"stream"`
	Sequence uint64              `json:"sequence"`
}

func decodeLine(t *testing.T, line string) ndjsonMessage {
	t.Helper()
	var m ndjsonMessage
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not an NDJSON message: %q: %v", line, err)
	}
	return m
}

// startServerAt runs `micro server` on addr with dataDir.
func startServerAt(t *testing.T, addr, dataDir string) *process {
	t.Helper()
	p := start(t, env(), microBin, "server", "--address", addr, "--data-dir", dataDir)
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(p.Output(), "listening on") {
			return fmt.Errorf("micro server has not said where it listens: %q", p.Output())
		}
		return nil
	})
	return p
}

// bareClient is a plain nats.go connection.
func bareClient(t *testing.T, addr string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func pubsubEnv(addr string, extra ...string) []string {
	return env(append([]string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + addr}, extra...)...)
}

func TestPubSubRoundTrip(t *testing.T) {
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	text := startSubscriber(t, environ, "orders.*")
	ndjson := startSubscriber(t, environ, "orders.>", "-o", "json")

	res := micro(t, environ, "publish", "orders.created", `{"id": 7, "items": ["tea"]}`, "-H", "Trace-Id:abc123", "-H", "Tenant: acme")
	if res.code != 0 || res.stdout != "" || res.stderr != "" {
		t.Fatalf("want a silent success, have %s", res)
	}
	want := `[#1] orders.created Content-Type=application/json Tenant=acme Trace-Id=abc123 {"id":7,"items":["tea"]}`
	if have := text.waitLines(t, 1)[0]; have != want {
		t.Errorf("text:\nwant %s\nhave %s", want, have)
	}
	m := decodeLine(t, ndjson.waitLines(t, 1)[0])
	if m.Topic != "orders.created" || string(m.Body) != `{"id":7,"items":["tea"]}` || m.Encoding != "json" ||
		m.Headers["Trace-Id"][0] != "abc123" || m.Headers["Tenant"][0] != "acme" || m.Headers["Content-Type"][0] != "application/json" {
		t.Errorf("json: have %+v", m)
	}
	if time.Since(m.Received) > time.Minute {
		t.Errorf("received %s: want a recent time", m.Received)
	}

	// Bodies from a file and from stdin, one message per line.
	res = microIn(t, environ, "{\"n\":1}\n\n{\"n\":2}\n", "publish", "orders.lines.today", "--lines")
	if res.code != 0 || !strings.Contains(res.stderr, "published 2 messages to orders.lines.today") {
		t.Fatalf("--lines: %s", res)
	}
	lines := ndjson.waitLines(t, 3)
	if a, b := decodeLine(t, lines[1]), decodeLine(t, lines[2]); string(a.Body) != `{"n":1}` || string(b.Body) != `{"n":2}` {
		t.Errorf("--lines: have %q", lines[1:])
	}
	if got := text.lines(); len(got) != 1 {
		t.Errorf("orders.* does not match orders.lines.today: have %q", got)
	}
	for _, s := range []*subscriber{text, ndjson} {
		if code := s.stop(t); code != 0 {
			t.Errorf("Ctrl-C: want exit 0, have %d", code)
		}
	}
}

func TestPubSubQueueGroup(t *testing.T) {
	const total = 300
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	var group []*subscriber
	for range 3 {
		group = append(group, startSubscriber(t, environ, "work.items", "--queue", "workers", "-o", "json"))
	}
	res := micro(t, environ, "publish", "work.items", "--count", fmt.Sprint(total), `{"n":{{.Count}}}`)
	if res.code != 0 {
		t.Fatalf("publish: %s", res)
	}
	count := func() int {
		n := 0
		for _, s := range group {
			n += len(s.lines())
		}
		return n
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := count(); n < total {
			return fmt.Errorf("%d of %d messages across the group", n, total)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // time for a duplicate to show
	seen := map[int]int{}
	for i, s := range group {
		lines := s.lines()
		if len(lines) == 0 {
			t.Errorf("subscriber %d got none of %d messages", i+1, total)
		}
		for _, line := range lines {
			var body struct{ N int }
			if err := json.Unmarshal(decodeLine(t, line).Body, &body); err != nil {
				t.Fatal(err)
			}
			seen[body.N]++
		}
	}
	for n := 1; n <= total; n++ {
		if seen[n] != 1 {
			t.Errorf("message %d was received %d times across the group, want once", n, seen[n])
		}
	}
	if len(seen) != total {
		t.Errorf("want %d distinct messages, have %d", total, len(seen))
	}
}

func TestPubSubDurable(t *testing.T) {
	const total = 1000
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	topic := "jobs.run"

	// The durable subscriber is live, then stopped.
	first := startSubscriber(t, environ, topic, "--durable", "worker", "-o", "json")
	if res := micro(t, environ, "publish", topic, "--jetstream", "--count", "5", `{"batch":1,"n":{{.Count}}}`); res.code != 0 {
		t.Fatalf("publish: %s", res)
	}
	first.waitLines(t, 5)
	if code := first.stop(t); code != 0 {
		t.Fatalf("Ctrl-C: want exit 0, have %d", code)
	}

	// 1,000 messages while it is away, each acknowledged by the stream.
	res := micro(t, environ, "publish", topic, "--jetstream", "--count", fmt.Sprint(total), `{"batch":2,"n":{{.Count}}}`)
	if res.code != 0 {
		t.Fatalf("publish: %s", res)
	}
	if want := fmt.Sprintf("stream JOBS_RUN sequences 6-%d: %d messages\n", total+5, total); res.stdout != want {
		t.Errorf("publish summary: want %q, have %q", want, res.stdout)
	}
	if !strings.Contains(res.stderr, fmt.Sprintf("published %d messages to %s in", total, topic)) {
		t.Errorf("want a rate on stderr, have %q", res.stderr)
	}

	// Back again: every one of them, once, in order, and nothing else.
	res = micro(t, environ, "subscribe", topic, "--durable", "worker", "--count", fmt.Sprint(total), "--timeout", "45s", "-o", "json")
	if res.code != 0 {
		t.Fatalf("the restarted durable subscriber: %s", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != total {
		t.Fatalf("want %d messages, have %d", total, len(lines))
	}
	for i, line := range lines {
		m := decodeLine(t, line)
		var body struct{ Batch, N int }
		if err := json.Unmarshal(m.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Batch != 2 || body.N != i+1 || m.Stream != "JOBS_RUN" || m.Sequence != uint64(i+6) {
			t.Fatalf("message %d: have %s", i+1, line)
		}
	}
	res = micro(t, environ, "subscribe", topic, "--durable", "worker", "--count", "1", "--timeout", "1s")
	assertCleanError(t, res, 1, "0 of 1 messages arrived on jobs.run within 1s")
}

func TestPubSubProtobufType(t *testing.T) {
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	proto := filepath.Join(greeterProtoDir(t), "greeter.proto")
	typed := startSubscriber(t, environ, "greeter.greeted", "--type", "greeter.v1.Greeted", "--proto", proto, "-o", "json")
	untyped := startSubscriber(t, environ, "greeter.greeted", "-o", "json")
	nc := bareClient(t, addr)
	raw, err := nc.SubscribeSync("greeter.greeted")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	const event = `{"name":"Ada","at":"2025-01-01T10:00:00Z"}`
	res := micro(t, environ, "publish", "greeter.greeted", event, "--type", "greeter.v1.Greeted", "--proto", proto)
	if res.code != 0 {
		t.Fatalf("publish --type: %s", res)
	}
	m := decodeLine(t, typed.waitLines(t, 1)[0])
	if string(m.Body) != event || m.Encoding != "protobuf" || m.Type != "greeter.v1.Greeted" ||
		m.Headers["Content-Type"][0] != "application/protobuf" || m.Headers["Micro-Message-Type"][0] != "greeter.v1.Greeted" {
		t.Errorf("JSON -> protobuf -> JSON: have %+v", m)
	}
	// What went over the wire is protobuf, not JSON.
	msg, err := raw.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if json.Valid(msg.Data) || len(msg.Data) == 0 {
		t.Errorf("want a protobuf body on the wire, have %q", msg.Data)
	}
	// Without descriptors, the body stays bytes: base64 of exactly them.
	u := decodeLine(t, untyped.waitLines(t, 1)[0])
	var b64 string
	if err := json.Unmarshal(u.Body, &b64); err != nil || u.Encoding != "base64" || b64 != base64.StdEncoding.EncodeToString(msg.Data) {
		t.Errorf("without --type: want the base64 of the wire bytes, have %+v", u)
	}
}

func TestPubSubInterop(t *testing.T) {
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	nc := bareClient(t, addr)

	t.Run("nats.go to micro subscribe", func(t *testing.T) {
		s := startSubscriber(t, environ, "interop.in", "-o", "json")
		header := natsgo.Header{"Content-Type": {"application/json"}, "X-Trace": {"a", "b"}}
		for _, m := range []*natsgo.Msg{
			{Subject: "interop.in", Header: header, Data: []byte(`{"from":"nats.go"}`)},
			{Subject: "interop.in", Data: []byte{0xff, 0x00, 0x01}},
		} {
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		lines := s.waitLines(t, 2)
		first, second := decodeLine(t, lines[0]), decodeLine(t, lines[1])
		if string(first.Body) != `{"from":"nats.go"}` || strings.Join(first.Headers["X-Trace"], ",") != "a,b" ||
			first.Headers["Content-Type"][0] != "application/json" {
			t.Errorf("have %+v", first)
		}
		var b64 string
		_ = json.Unmarshal(second.Body, &b64)
		if second.Encoding != "base64" || b64 != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x01}) || len(second.Headers) != 0 {
			t.Errorf("have %+v", second)
		}
	})
	t.Run("micro publish to nats.go", func(t *testing.T) {
		sub, err := nc.SubscribeSync("interop.out")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		res := micro(t, environ, "publish", "interop.out", `{"from":"micro"}`, "-H", "X-Trace:a", "-H", "X-Trace:b", "-H", "Nats-Msg-Id:{{.ID}}")
		if res.code != 0 {
			t.Fatal(res)
		}
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != `{"from":"micro"}` || strings.Join(m.Header.Values("X-Trace"), ",") != "a,b" ||
			m.Header.Get("Content-Type") != "application/json" || len(m.Header.Get("Nats-Msg-Id")) < 10 {
			t.Errorf("have %q %v", m.Data, m.Header)
		}
	})
}

func TestPubSubServerRestart(t *testing.T) {
	addr, dataDir := freeAddr(t), t.TempDir()
	srv := startServerAt(t, addr, dataDir)
	environ := pubsubEnv(addr)
	s := startSubscriber(t, environ, "events.>")
	if res := micro(t, environ, "publish", "events.a", "before"); res.code != 0 {
		t.Fatal(res)
	}
	s.waitLines(t, 1)

	srv.signal(syscall.SIGINT)
	if code := srv.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("micro server: exit %d", code)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(s.stderr.String(), "micro: disconnected from nats://"+addr) {
			return fmt.Errorf("no disconnect on stderr: %q", s.stderr)
		}
		return nil
	})
	startServerAt(t, addr, dataDir)
	testutil.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(s.stderr.String(), "micro: reconnected to nats://"+addr) {
			return fmt.Errorf("no reconnect on stderr: %q", s.stderr)
		}
		return nil
	})
	if res := micro(t, environ, "publish", "events.b", "after"); res.code != 0 {
		t.Fatal(res)
	}
	lines := s.waitLines(t, 2)
	if !strings.HasSuffix(lines[0], "events.a Content-Type=text/plain; charset=utf-8 before") ||
		!strings.HasSuffix(lines[1], "events.b Content-Type=text/plain; charset=utf-8 after") {
		t.Errorf("have %q", lines)
	}
	select {
	case <-s.done:
		t.Fatal("the subscriber exited")
	default:
	}
}

// Bad input: one clear line, the documented exit code, and nothing sent —
// a bare client subscribed to everything sees only the marker published
// after the failures.
func TestPubSubBadInput(t *testing.T) {
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	closed := freeAddr(t)
	proto := filepath.Join(greeterProtoDir(t), "greeter.proto")
	nc := bareClient(t, addr)
	everything, err := nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"unreachable broker", pubsubEnv(addr, "MICRO_BROKER_ADDRESS="+closed), []string{"publish", "orders.created", "{}"}, 1,
			[]string{"nats://" + closed, "connection refused", "micro server"}},
		{"unreachable broker (subscribe)", pubsubEnv(addr, "MICRO_BROKER_ADDRESS="+closed), []string{"subscribe", "orders.created"}, 1,
			[]string{"nats://" + closed}},
		{"wildcard topic", environ, []string{"publish", "orders.*", "{}"}, 2, []string{`invalid topic "orders.*"`, "wildcards are only for subscribing"}},
		{"empty token", environ, []string{"publish", "orders..created", "{}"}, 2, []string{`invalid topic "orders..created"`, "empty token"}},
		{"topic with a space", environ, []string{"publish", "orders created", "{}"}, 2, []string{"invalid topic"}},
		{"bad subscribe pattern", environ, []string{"subscribe", "orders.>.x"}, 2, []string{"invalid topic"}},
		{"body does not fit the type", environ, []string{"publish", "greeter.greeted", `{"nme":"Ada"}`, "--type", "greeter.v1.Greeted", "--proto", proto}, 1,
			[]string{"does not fit --type greeter.v1.Greeted", `unknown field "nme"`, "nothing was sent"}},
		{"body is not JSON", environ, []string{"publish", "greeter.greeted", `name=Ada`, "--type", "greeter.v1.Greeted", "--proto", proto}, 1,
			[]string{"does not fit --type greeter.v1.Greeted"}},
		{"templated body does not fit", environ, []string{"publish", "greeter.greeted", `{"name":"{{.Count}}","at":{{.Count}}}`, "--count", "3", "--type", "greeter.v1.Greeted", "--proto", proto}, 1,
			[]string{"(message 1) does not fit"}},
		{"unknown type", environ, []string{"publish", "greeter.greeted", `{"name":"Ada"}`, "--type", "greeter.v1.Greetd", "--proto", proto}, 1,
			[]string{`unknown message type "greeter.v1.Greetd"`, "greeter.v1.Greeted"}},
		{"type without descriptors", environ, []string{"publish", "greeter.greeted", `{"name":"Ada"}`, "--type", "greeter.v1.Greeted"}, 2,
			[]string{"--proto"}},
		{"unknown type (subscribe)", environ, []string{"subscribe", "greeter.greeted", "--type", "greeter.v1.Nope", "--proto", proto}, 1,
			[]string{`unknown message type "greeter.v1.Nope"`}},
		{"bad template", environ, []string{"publish", "t", "{{.Nope}}"}, 2, []string{"no field .Nope"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := micro(t, c.env, c.args...)
			assertCleanError(t, res, c.code, c.want...)
			if res.stdout != "" {
				t.Errorf("nothing should go to stdout on error, have %q", res.stdout)
			}
		})
	}

	if res := micro(t, environ, "publish", "marker", "end"); res.code != 0 {
		t.Fatal(res)
	}
	for {
		m, err := everything.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("the marker did not arrive: %v", err)
		}
		if strings.HasPrefix(m.Subject, "$") || strings.HasPrefix(m.Subject, "_INBOX.") {
			continue // the server's own traffic
		}
		if m.Subject != "marker" {
			t.Errorf("a failed command sent %s %q", m.Subject, m.Data)
			continue
		}
		break
	}
}

// TestGreeterHandlesPublishedEvents: the greeter subscribes to
// greeter.greeted, and handles what micro publishes, as JSON and as
// protobuf.
func TestGreeterHandlesPublishedEvents(t *testing.T) {
	b := natsBackend(t)
	greeter := startGreeter(t, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		if out := greeter.Output(); !strings.Contains(out, "msg=subscribed") || !strings.Contains(out, "topic=greeter.greeted") {
			return fmt.Errorf("the greeter has not subscribed: %q", greeter.Output())
		}
		return nil
	})
	if res := micro(t, env(b.env...), "publish", "greeter.greeted", `{"name":"Ada"}`); res.code != 0 {
		t.Fatal(res)
	}
	proto := filepath.Join(greeterProtoDir(t), "greeter.proto")
	if res := micro(t, env(b.env...), "publish", "greeter.greeted", `{"name":"Bob","at":"2025-01-01T10:00:00Z"}`,
		"--type", "greeter.v1.Greeted", "--proto", proto); res.code != 0 {
		t.Fatal(res)
	}
	// The type's descriptors from the greeter itself, through reflection;
	// a subscriber that learns the type from the header the same way.
	reflected := startSubscriber(t, env(b.env...), "greeter.greeted", "--reflect", "greeter", "-o", "json")
	if res := micro(t, env(b.env...), "publish", "greeter.greeted", `{"name":"Cy"}`, "--type", "greeter.v1.Greeted", "--reflect", "greeter"); res.code != 0 {
		t.Fatal(res)
	}
	if m := decodeLine(t, reflected.waitLines(t, 1)[0]); string(m.Body) != `{"name":"Cy"}` || m.Encoding != "protobuf" || m.Type != "greeter.v1.Greeted" {
		t.Errorf("--reflect: have %+v", m)
	}
	res := micro(t, env(b.env...), "publish", "greeter.greeted", `{"name":"Cy"}`, "--type", "greeter.v1.Greeted", "--reflect", "nosuch")
	assertCleanError(t, res, 1, "nosuch", "micro list services")
	testutil.Eventually(t, 20*time.Second, func() error {
		out := greeter.Output()
		for _, want := range []string{
			`msg="handled event" topic=greeter.greeted name=Ada`,
			`msg="handled event" topic=greeter.greeted name=Bob at=2025-01-01T10:00:00Z`,
			`msg="handled event" topic=greeter.greeted name=Cy`,
		} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("the greeter has not logged %s", want)
			}
		}
		return nil
	})
}
