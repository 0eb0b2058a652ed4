package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/config"
)

const greeterProto = "../../examples/greeter/proto/greeter.proto"

// fixture is a publish command against a NATS server, with a bare nats.go
// subscriber on every topic to see what arrives.
type fixture struct {
	url      string
	env      map[string]string
	sub      *natsgo.Subscription
	stdin    *bytes.Buffer
	stdout   *bytes.Buffer
	stderr   *bytes.Buffer
	lastCode int
}

func newFixture(t *testing.T, url string) *fixture {
	t.Helper()
	fx := &fixture{url: url, env: map[string]string{}}
	if url == "" {
		return fx
	}
	nc, err := natsgo.Connect(url, natsgo.Token("secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if fx.sub, err = nc.SubscribeSync(">"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return fx
}

// run runs `micro publish args...` in-process and returns its error.
func (fx *fixture) run(t *testing.T, stdin string, args ...string) error {
	t.Helper()
	ios, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	fx.stdin, fx.stdout, fx.stderr = in, out, errOut
	f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) {
		return config.Config{Registry: config.RegistryNATS, RegistryAddress: fx.url, Timeout: 5 * time.Second,
			Env: func(k string) (string, bool) { v, ok := fx.env[k]; return v, ok }}, nil
	}}
	t.Cleanup(func() { _ = f.Close() })
	output := ""
	if i := indexOf(args, "-o"); i >= 0 {
		output = args[i+1]
		args = append(args[:i:i], args[i+2:]...)
	}
	f.OutputFormat = func() string { return output }
	cmd := NewCmdPublish(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	_ = f.Close() // flushes, as the process's exit would
	return err
}

func indexOf(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}

// received returns the messages the bare subscriber has, waiting up to a
// second for the last of want.
func (fx *fixture) received(t *testing.T, want int) []*natsgo.Msg {
	t.Helper()
	var msgs []*natsgo.Msg
	for len(msgs) < want {
		m, err := fx.sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("have %d of %d messages: %v", len(msgs), want, err)
		}
		if internal(m.Subject) {
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// internal tells the server's, JetStream's and the registry's own traffic
// (go-micro's query protocol) from messages.
func internal(subject string) bool {
	return strings.HasPrefix(subject, "$") || strings.HasPrefix(subject, "_INBOX.") || strings.HasPrefix(subject, "micro.nats.")
}

// nothingMore checks that no other message arrives.
func (fx *fixture) nothingMore(t *testing.T) {
	t.Helper()
	for {
		m, err := fx.sub.NextMsg(200 * time.Millisecond)
		if errors.Is(err, natsgo.ErrTimeout) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !internal(m.Subject) {
			t.Fatalf("want nothing sent, have %s %q", m.Subject, m.Data)
		}
	}
}

// tokenServer runs a NATS server with JetStream that wants the token
// "secret".
func tokenServer(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, Authorization: "secret",
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return ns.ClientURL()
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wildcard topic", []string{"orders.*", "{}"}, "wildcards are only for subscribing"},
		{"empty token", []string{"orders..x", "{}"}, "empty token"},
		{"body twice", []string{"t", "{}", "-d", "{}"}, "give the body once"},
		{"zero count", []string{"t", "{}", "--count", "0"}, "--count 0"},
		{"lines and count", []string{"t", "--lines", "--count", "2"}, "--lines"},
		{"lines and argument", []string{"t", "x", "--lines"}, "--lines"},
		{"stream without jetstream", []string{"t", "x", "--stream", "S"}, "--stream is for --jetstream"},
		{"bad stream name", []string{"t", "x", "--jetstream", "--stream", "a.b"}, "stream"},
		{"type without source", []string{"t", "{}", "--type", "greeter.v1.Greeted"}, "--proto FILE"},
		{"source without type", []string{"t", "{}", "--proto", greeterProto}, "--type"},
		{"two sources", []string{"t", "{}", "--type", "a.B", "--proto", "x.proto", "--protoset", "x.pb"}, "give one"},
		{"header without colon", []string{"t", "{}", "-H", "novalue"}, "key:value"},
		{"header key with space", []string{"t", "{}", "-H", "a b:c"}, "no spaces"},
		{"bad template", []string{"t", "{{.Count"}, "not a valid template"},
		{"unknown template field", []string{"t", "{{.Nope}}"}, "no field .Nope"},
		{"missing data file", []string{"t", "-d", "@" + filepath.Join(dir, "missing.json")}, "no such file"},
		{"password without user", []string{"t", "x", "--password", "p"}, "--user"},
		{"cert without key", []string{"t", "x", "--tls-cert", "c.pem"}, "--tls-key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t, "")
			err := fx.run(t, "", c.args...)
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
				t.Errorf("want exit %d, have %d: %v", cmdutil.ExitUsage, code, err)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want an error about %q, have %v", c.want, err)
			}
			if fx.stdout.Len() > 0 {
				t.Errorf("want nothing on stdout, have %q", fx.stdout)
			}
		})
	}
}

func TestPublish(t *testing.T) {
	srv := testenv.NATS(t)
	fx := newFixture(t, srv.URL())
	dataFile := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(dataFile, []byte(`{"id": 7}`), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("argument and headers", func(t *testing.T) {
		if err := fx.run(t, "", "orders.created", `{"id":7}`, "-H", "Trace-Id: abc", "-H", "Trace-Id:def"); err != nil {
			t.Fatal(err)
		}
		m := fx.received(t, 1)[0]
		if m.Subject != "orders.created" || string(m.Data) != `{"id":7}` {
			t.Errorf("have %s %q", m.Subject, m.Data)
		}
		if ct := m.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if v := m.Header.Values("Trace-Id"); len(v) != 2 || v[0] != "abc" || v[1] != "def" {
			t.Errorf("Trace-Id %q", v)
		}
		if fx.stdout.Len()+fx.stderr.Len() > 0 {
			t.Errorf("want no output, have %q %q", fx.stdout, fx.stderr)
		}
	})
	t.Run("data file, text, stdin, empty", func(t *testing.T) {
		for _, c := range []struct {
			stdin  string
			args   []string
			body   string
			header string
		}{
			{"", []string{"t", "-d", "@" + dataFile}, `{"id": 7}`, "application/json"},
			{"hello\n", []string{"t", "-d", "@-"}, "hello\n", "text/plain; charset=utf-8"},
			{"\xff\x00", []string{"t"}, "\xff\x00", "application/octet-stream"},
			{"", []string{"t", "-d", "plain"}, "plain", "text/plain; charset=utf-8"},
			{"", []string{"t", "{}", "-H", "Content-Type:application/x-thing"}, "{}", "application/x-thing"},
			{"", []string{"t", ""}, "", ""},
		} {
			if err := fx.run(t, c.stdin, c.args...); err != nil {
				t.Fatalf("%v: %v", c.args, err)
			}
			m := fx.received(t, 1)[0]
			if string(m.Data) != c.body || m.Header.Get("Content-Type") != c.header {
				t.Errorf("%v: want %q (%s), have %q (%s)", c.args, c.body, c.header, m.Data, m.Header.Get("Content-Type"))
			}
		}
	})
	t.Run("count with templates", func(t *testing.T) {
		if err := fx.run(t, "", "t", "--count", "3", `{"n":{{.Count}},"id":"{{.ID}}","at":"{{.Time}}"}`, "-H", "Nats-Msg-Id:{{.ID}}"); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for i, m := range fx.received(t, 3) {
			var body struct {
				N  int
				ID string
				At time.Time
			}
			if err := json.Unmarshal(m.Data, &body); err != nil {
				t.Fatalf("%q: %v", m.Data, err)
			}
			if body.N != i+1 || body.ID == "" || ids[body.ID] || body.At.IsZero() || m.Header.Get("Nats-Msg-Id") != body.ID {
				t.Errorf("message %d: %q, header %q", i+1, m.Data, m.Header.Get("Nats-Msg-Id"))
			}
			ids[body.ID] = true
		}
		if !strings.Contains(fx.stderr.String(), "published 3 messages to t in") {
			t.Errorf("want a summary on stderr, have %q", fx.stderr)
		}
		if err := fx.run(t, "", "t", "--count", "2", "--no-template", "{{.Count}}"); err != nil {
			t.Fatal(err)
		}
		for _, m := range fx.received(t, 2) {
			if string(m.Data) != "{{.Count}}" {
				t.Errorf("--no-template: have %q", m.Data)
			}
		}
	})
	t.Run("lines", func(t *testing.T) {
		if err := fx.run(t, "{\"n\":1}\n\n  \n{\"n\":{{.Count}}}\r\nthree\n", "t", "--lines"); err != nil {
			t.Fatal(err)
		}
		want := []string{`{"n":1}`, `{"n":2}`, "three"}
		for i, m := range fx.received(t, 3) {
			if string(m.Data) != want[i] {
				t.Errorf("line %d: want %q, have %q", i+1, want[i], m.Data)
			}
		}
	})
	t.Run("type", func(t *testing.T) {
		if err := fx.run(t, "", "greeter.greeted", `{"name":"Ada","at":"2025-01-01T10:00:00Z"}`, "--type", "greeter.v1.Greeted", "--proto", greeterProto); err != nil {
			t.Fatal(err)
		}
		m := fx.received(t, 1)[0]
		var ev greeterpb.Greeted
		if err := proto.Unmarshal(m.Data, &ev); err != nil || ev.GetName() != "Ada" || ev.GetAt().AsTime().Hour() != 10 {
			t.Errorf("want a Greeted for Ada at 10:00, have %v (%v)", &ev, err)
		}
		if m.Header.Get("Content-Type") != "application/protobuf" || m.Header.Get(broker.HeaderMessageType) != "greeter.v1.Greeted" {
			t.Errorf("headers %v", m.Header)
		}
	})
	t.Run("type errors send nothing", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"greeter.greeted", `{"nme":"Ada"}`, "--type", "greeter.v1.Greeted", "--proto", greeterProto}, `does not fit --type greeter.v1.Greeted: invalid greeter.v1.Greeted at nme`},
			{[]string{"greeter.greeted", `{"name":`, "--type", "greeter.v1.Greeted", "--proto", greeterProto}, `does not fit --type`},
			{[]string{"greeter.greeted", `{"name":"Ada"}`, "--type", "greeter.v1.Greetd", "--proto", greeterProto}, `unknown message type "greeter.v1.Greetd"`},
			{[]string{"greeter.greeted", `{"name":"Ada"}`, "--type", "Greeted", "--proto", greeterProto}, `did you mean greeter.v1.Greeted`},
			{[]string{"greeter.greeted", `{"name":"Ada"}`, "--type", "greeter.v1.Greeter", "--proto", greeterProto}, `it is a service`},
			{[]string{"greeter.greeted", `{"n":{{.Count}}}`, "--count", "2", "--type", "greeter.v1.Greeted", "--proto", greeterProto}, `(message 1)`},
		} {
			err := fx.run(t, "", c.args...)
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitError || !strings.Contains(fmt.Sprint(err), c.want) {
				t.Errorf("%v: want exit 1 and %q, have %d: %v", c.args, c.want, code, err)
			}
		}
		fx.nothingMore(t)
	})
}

func TestJetStream(t *testing.T) {
	srv := testenv.NATS(t)
	fx := newFixture(t, srv.URL())
	if err := fx.run(t, "", "jobs.run", `{"a":1}`, "--jetstream"); err != nil {
		t.Fatal(err)
	}
	if have := fx.stdout.String(); have != "stream JOBS_RUN sequence 1\n" {
		t.Errorf("want the stream and sequence, have %q", have)
	}
	if err := fx.run(t, "", "jobs.run", `{"n":{{.Count}}}`, "--jetstream", "--count", "5", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	var summary jsonSummary
	if err := json.Unmarshal(fx.stdout.Bytes(), &summary); err != nil {
		t.Fatalf("%q: %v", fx.stdout, err)
	}
	if want := (jsonSummary{Stream: "JOBS_RUN", FirstSequence: 2, LastSequence: 6, Messages: 5}); summary != want {
		t.Errorf("want %+v, have %+v", want, summary)
	}
	if err := fx.run(t, "", "jobs.run", `x`, "--jetstream", "-H", "Nats-Msg-Id:same", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	if err := fx.run(t, "", "jobs.run", `x`, "--jetstream", "-H", "Nats-Msg-Id:same", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	var ack jsonAck
	if err := json.Unmarshal(fx.stdout.Bytes(), &ack); err != nil || !ack.Duplicate || ack.Sequence != 7 {
		t.Errorf("want a duplicate of sequence 7, have %q (%v)", fx.stdout, err)
	}
	// Without the subscriber on ">", which would answer as if it were a
	// stream.
	if err := fx.sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	bare := newFixture(t, "")
	bare.url = srv.URL()
	if err := bare.run(t, "", "jobs.other", `x`, "--jetstream", "--stream", "JOBS_RUN"); err == nil || !strings.Contains(err.Error(), "JOBS_RUN") {
		t.Errorf("a stream that does not hold the topic: want an error naming it, have %v", err)
	}
}

func TestCredentials(t *testing.T) {
	url := tokenServer(t)
	fx := newFixture(t, url)
	if err := fx.run(t, "", "auth.ok", "x", "--token", "secret"); err != nil {
		t.Fatalf("--token: %v", err)
	}
	fx.received(t, 1)
	fx.env[config.EnvBrokerToken] = "secret"
	if err := fx.run(t, "", "auth.ok", "y"); err != nil {
		t.Fatalf("%s: %v", config.EnvBrokerToken, err)
	}
	fx.received(t, 1)
	err := fx.run(t, "", "auth.ok", "z", "--token", "guess")
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), "--token") {
		t.Errorf("a wrong token (the flag wins over the variable): want an error with advice, have %v", err)
	}
	if strings.Contains(fmt.Sprint(err), "guess") {
		t.Errorf("the error shows the token: %v", err)
	}
	fx.nothingMore(t)
}

func TestUnreachable(t *testing.T) {
	fx := newFixture(t, "")
	fx.url = "127.0.0.1:1"
	err := fx.run(t, "", "t", "x")
	if code := cmdutil.ExitCode(err); code != cmdutil.ExitError || !strings.Contains(fmt.Sprint(err), "nats://127.0.0.1:1") || !strings.Contains(fmt.Sprint(err), "micro server") {
		t.Errorf("want exit 1 naming the URL and `micro server`, have %d: %v", code, err)
	}
}
