package subscribe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/microtools/micro/cmd/brokerutil"
	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/config"
)

const greeterProto = "../../examples/greeter/proto/greeter.proto"

// session is one `micro subscribe` run in-process.
type session struct {
	stdout, stderr *testutil.SyncBuffer
	ready          chan struct{}
	done           chan error
	cancel         context.CancelFunc
}

// start runs `micro subscribe args...` against url until it ends or the
// test does; it returns once the subscriptions are in place (or the run
// failed).
func start(t *testing.T, url, output string, args ...string) *session {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	s := &session{stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, ready: make(chan struct{}), done: make(chan error, 1)}
	ios.Out, ios.ErrOut = s.stdout, s.stderr
	f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) {
		return config.Config{Registry: config.RegistryNATS, RegistryAddress: url, Timeout: 5 * time.Second}, nil
	}}
	f.OutputFormat = func() string { return output }
	cmd := NewCmdSubscribe(f, func(ctx context.Context, opts *Options) error {
		opts.Ready = func() { close(s.ready) }
		return run(ctx, opts)
	})
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		err := cmd.ExecuteContext(ctx)
		_ = f.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	select {
	case <-s.ready:
	case err := <-s.done:
		s.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber is not ready after 10s")
	}
	return s
}

// wait returns the error the run ended with.
func (s *session) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("the subscriber still runs after 15s; stdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
		return nil
	}
}

func publisher(t *testing.T, url string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func publish(t *testing.T, nc *natsgo.Conn, subject string, header natsgo.Header, body []byte) {
	t.Helper()
	if err := nc.PublishMsg(&natsgo.Msg{Subject: subject, Header: header, Data: body}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no topic", nil, "at least one topic"},
		{"empty token", []string{"a..b"}, "empty token"},
		{"wildcard inside a token", []string{"a.b*"}, "wildcard inside token"},
		{"negative count", []string{"a", "--count", "-1"}, "--count -1"},
		{"negative timeout", []string{"a", "--timeout", "-1s"}, "--timeout"},
		{"durable and queue", []string{"a", "--durable", "d", "--queue", "q"}, "--queue"},
		{"durable with two topics", []string{"a", "b", "--durable", "d"}, "one topic"},
		{"bad durable name", []string{"a", "--durable", "d.x"}, "durable"},
		{"stream without durable", []string{"a", "--stream", "S"}, "--stream is for --durable"},
		{"type without source", []string{"a", "--type", "x.Y"}, "--proto FILE"},
		{"import path without proto", []string{"a", "--import-path", "."}, "--import-path needs --proto"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ios, _, out, _ := iostreams.Test()
			f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) { return config.Default(), nil }}
			cmd := NewCmdSubscribe(f, func(context.Context, *Options) error {
				t.Fatal("run should not be called")
				return nil
			})
			cmd.SetArgs(c.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage || !strings.Contains(fmt.Sprint(err), c.want) {
				t.Errorf("want exit 2 and %q, have %d: %v", c.want, code, err)
			}
			if out.Len() > 0 {
				t.Errorf("want nothing on stdout, have %q", out)
			}
		})
	}
}

func TestRender(t *testing.T) {
	ctx := context.Background()
	types, err := (&brokerutil.TypeFlags{DescriptorFlags: callutil.DescriptorFlags{Protos: []string{greeterProto}}}).Load(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	greeted, err := proto.Marshal(&greeterpb.Greeted{Name: "Ada", At: timestamppb.New(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(greeted)
	protoHeader := broker.Header{"Content-Type": {"application/protobuf"}, broker.HeaderMessageType: {"greeter.v1.Greeted"}}
	cases := []struct {
		name     string
		types    *brokerutil.Types
		typeFlag string
		header   broker.Header
		body     string
		encoding string
		json     string
		text     string
	}{
		{"json", nil, "", broker.Header{"Content-Type": {"application/json"}}, `{"a": [1, 2]}`, "json", `{"a":[1,2]}`, `{"a":[1,2]}`},
		{"json without content type", nil, "", nil, `[1]`, "json", `[1]`, `[1]`},
		{"json with parameters", nil, "", broker.Header{"content-type": {"Application/JSON; charset=utf-8"}}, `1`, "json", `1`, `1`},
		{"vendor json", nil, "", broker.Header{"Content-Type": {"application/cloudevents+json"}}, `{}`, "json", `{}`, `{}`},
		{"broken json", nil, "", broker.Header{"Content-Type": {"application/json"}}, `{`, "base64", `"ew=="`, `{`},
		{"text", nil, "", broker.Header{"Content-Type": {"text/plain"}}, "hello", "base64", `"aGVsbG8="`, `hello`},
		{"text that looks like json", nil, "", broker.Header{"Content-Type": {"text/plain"}}, "42", "base64", `"NDI="`, `42`},
		{"text on lines", nil, "", nil, "a\nb", "base64", `"YQpi"`, `"a\nb"`},
		{"binary", nil, "", broker.Header{"Content-Type": {"application/octet-stream"}}, "\xff\x00", "base64", `"/wA="`, `base64:/wA=`},
		{"empty", nil, "", nil, "", "base64", `""`, `""`},
		{"protobuf, type in the header", types, "", protoHeader, string(greeted), "protobuf", `{"name":"Ada","at":"2025-01-01T10:00:00Z"}`, `{"name":"Ada","at":"2025-01-01T10:00:00Z"}`},
		{"protobuf, --type", types, "greeter.v1.Greeted", broker.Header{"Content-Type": {"application/protobuf"}}, string(greeted), "protobuf", `{"name":"Ada","at":"2025-01-01T10:00:00Z"}`, ``},
		{"protobuf without content type, --type", types, "greeter.v1.Greeted", nil, string(greeted), "protobuf", `{"name":"Ada","at":"2025-01-01T10:00:00Z"}`, ``},
		{"protobuf without descriptors", nil, "", protoHeader, string(greeted), "base64", `"` + b64 + `"`, `base64:` + b64},
		{"protobuf of an unknown type", types, "", broker.Header{"Content-Type": {"application/protobuf"}, broker.HeaderMessageType: {"x.Nope"}}, string(greeted), "base64", `"` + b64 + `"`, ``},
		{"not protobuf of the type", types, "greeter.v1.Greeted", broker.Header{"Content-Type": {"application/protobuf"}}, "\xff\xff\xff", "base64", `"////"`, ``},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := &broker.Message{Topic: "t", Header: c.header, Body: []byte(c.body)}
			b := render(ctx, c.types, c.typeFlag, msg)
			if b.encoding != c.encoding || string(b.json()) != c.json {
				t.Errorf("want %s %s, have %s %s", c.encoding, c.json, b.encoding, b.json())
			}
			if c.text == "" {
				return
			}
			var line bytes.Buffer
			if err := writeText(&line, 3, &broker.Message{Topic: "t", Body: []byte(c.body)}, b); err != nil {
				t.Fatal(err)
			}
			if want := "[#3] t " + c.text + "\n"; line.String() != want {
				t.Errorf("text: want %q, have %q", want, line.String())
			}
		})
	}
}

func TestTextHeaders(t *testing.T) {
	var line bytes.Buffer
	msg := &broker.Message{Topic: "greeter.greeted", Header: broker.Header{"Z": {"1", "2"}, "Content-Type": {"application/json"}}, Body: []byte(`{"name":"Ada"}`)}
	if err := writeText(&line, 1, msg, render(context.Background(), nil, "", msg)); err != nil {
		t.Fatal(err)
	}
	if want := "[#1] greeter.greeted Content-Type=application/json Z=1 Z=2 {\"name\":\"Ada\"}\n"; line.String() != want {
		t.Errorf("want %q, have %q", want, line.String())
	}
}

func TestSubscribe(t *testing.T) {
	srv := testenv.NATS(t)
	nc := publisher(t, srv.URL())

	t.Run("count and json", func(t *testing.T) {
		s := start(t, srv.URL(), cmdutil.OutputJSON, "orders.*", "audit.>", "--count", "3")
		publish(t, nc, "orders.created", natsgo.Header{"Content-Type": {"application/json"}, "Trace-Id": {"abc"}}, []byte(`{"id":7}`))
		publish(t, nc, "other.topic", nil, []byte(`ignored`))
		publish(t, nc, "audit.a.b", nil, []byte("plain text"))
		publish(t, nc, "orders.deleted", nil, []byte(`{"id":8}`))
		if err := s.wait(t); err != nil {
			t.Fatal(err)
		}
		// Each topic's messages in order; the two subscriptions' messages
		// in any order.
		byTopic := map[string]jsonMessage{}
		var orders []string
		for _, line := range lines(s.stdout.String()) {
			var m jsonMessage
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			byTopic[m.Topic] = m
			if strings.HasPrefix(m.Topic, "orders.") {
				orders = append(orders, m.Topic)
			}
		}
		if len(byTopic) != 3 || strings.Join(orders, " ") != "orders.created orders.deleted" {
			t.Fatalf("want 3 messages, have %q", s.stdout.String())
		}
		first := byTopic["orders.created"]
		if string(first.Body) != `{"id":7}` || first.Encoding != "json" || first.Headers["Trace-Id"][0] != "abc" || first.Received == "" {
			t.Errorf("have %+v", first)
		}
		if audit := byTopic["audit.a.b"]; string(audit.Body) != `"cGxhaW4gdGV4dA=="` || audit.Encoding != "base64" {
			t.Errorf("have %+v", audit)
		}
		if !strings.Contains(s.stderr.String(), "subscribed to orders.*, audit.>") {
			t.Errorf("stderr: %q", s.stderr)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		s := start(t, srv.URL(), "", "t")
		s.cancel()
		if err := s.wait(t); err != nil {
			t.Errorf("Ctrl-C is the normal end: want no error, have %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s := start(t, srv.URL(), "", "t", "--timeout", "300ms")
		if err := s.wait(t); err != nil {
			t.Errorf("--timeout without --count: want no error, have %v", err)
		}
		s = start(t, srv.URL(), "", "t", "--timeout", "500ms", "--count", "2")
		publish(t, nc, "t", nil, []byte("one"))
		err := s.wait(t)
		if code := cmdutil.ExitCode(err); code != cmdutil.ExitError || !strings.Contains(fmt.Sprint(err), "1 of 2 messages arrived on t within 500ms") {
			t.Errorf("want exit 1 saying how many arrived, have %d: %v", code, err)
		}
		if got := lines(s.stdout.String()); len(got) != 1 {
			t.Errorf("want the message that arrived printed, have %q", got)
		}
	})
	t.Run("queue group", func(t *testing.T) {
		var group []*session
		for range 3 {
			group = append(group, start(t, srv.URL(), "", "work", "--queue", "workers"))
		}
		for i := range 30 {
			publish(t, nc, "work", nil, []byte(fmt.Sprint(i)))
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			total := 0
			for _, s := range group {
				total += len(lines(s.stdout.String()))
			}
			if total == 30 {
				break
			}
			if total > 30 || time.Now().After(deadline) {
				t.Fatalf("want 30 messages across the group, have %d", total)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		s := start(t, srv.URL(), "", "t", "--type", "greeter.v1.Nope", "--proto", greeterProto)
		err := s.wait(t)
		if code := cmdutil.ExitCode(err); code != cmdutil.ExitError || !strings.Contains(fmt.Sprint(err), `unknown message type "greeter.v1.Nope"`) {
			t.Errorf("want exit 1 naming the type, have %d: %v", code, err)
		}
	})
}

func TestDurable(t *testing.T) {
	srv := testenv.NATS(t)
	nc := publisher(t, srv.URL())
	s := start(t, srv.URL(), cmdutil.OutputJSON, "jobs.run", "--durable", "worker", "--count", "2")
	for i := 1; i <= 5; i++ {
		publish(t, nc, "jobs.run", nil, []byte(fmt.Sprint(i)))
	}
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
	seen := lines(s.stdout.String())
	// The rest wait in the stream for the next subscriber of the same name.
	s = start(t, srv.URL(), cmdutil.OutputJSON, "jobs.run", "--durable", "worker", "--count", "3", "--timeout", "10s")
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
	seen = append(seen, lines(s.stdout.String())...)
	// Each exactly once; those the first subscriber received beyond its
	// --count went back to the stream, and may come after later ones.
	bodies := map[string]bool{}
	for i, line := range seen {
		var m jsonMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m.Stream != "JOBS_RUN" || string(m.Body) != fmt.Sprint(m.Sequence) || bodies[string(m.Body)] || (i < 2 && m.Sequence != uint64(i+1)) {
			t.Errorf("message %d: have %s", i+1, line)
		}
		bodies[string(m.Body)] = true
	}
	if len(bodies) != 5 {
		t.Errorf("want the 5 messages, have %q", seen)
	}
}
