package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/api/ui"
	brokermemory "github.com/microtools/micro/pkg/broker/memory"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// streamClient is callClient with what the console uses besides: calls
// with requests one at a time that say the node, as cmd/api's client does.
type streamClient struct {
	callClient
}

var _ api.StreamInvoker = streamClient{}

func (a streamClient) InvokeStream(ctx context.Context, svc string, method protoreflect.MethodDescriptor, requests call.RequestSupplier, md metadata.MD, h api.ResponseHandler, node func(string)) error {
	trace := &call.ClientTrace{NodeSelected: func(n *registry.Node, _ string) { node(n.Address) }}
	return a.client.Call(ctx, svc, call.FullMethodName(method), requests, call.HandlerFuncs{
		ReceiveHeaders: func(m metadata.MD) { h.Header(m) },
		Response:       h.Message,
		Trailers:       func(_ *status.Status, m metadata.MD) { h.Trailer(m) },
	}, call.WithHeaders(md), call.WithTrace(trace))
}

// consoleEnv is a gateway with the console mounted, over greeter in a
// memory registry and a memory broker.
func consoleEnv(t *testing.T, opts api.Options, copts api.ConsoleOptions) *env {
	t.Helper()
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	startGreeter(t, reg, "greeter")
	cl, err := client.New(client.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	opts.Registry, opts.Client = reg, streamClient{callClient{client: cl}}
	gw, err := api.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if copts.Broker == nil {
		copts.Broker = brokermemory.New()
	}
	if err := gw.MountConsole(copts); err != nil {
		t.Fatal(err)
	}
	if err := gw.MountConsole(copts); err == nil {
		t.Fatal("a second MountConsole succeeded")
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		gw.Close()
		srv.Close()
	})
	return &env{reg: reg, gateway: gw, server: srv}
}

type event struct {
	Event    string            `json:"event"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata"`
	Message  json.RawMessage   `json:"message"`
	Sequence int               `json:"sequence"`
	Code     *int              `json:"code"`
	Status   string            `json:"status"`
	Error    string            `json:"error"`
	Details  []json.RawMessage `json:"details"`
}

func ndjsonEvents(t *testing.T, body string) []event {
	t.Helper()
	var out []event
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

func kinds(events []event) string {
	var names []string
	for _, ev := range events {
		names = append(names, ev.Event)
	}
	return strings.Join(names, " ")
}

func TestConsoleFiles(t *testing.T) {
	e := consoleEnv(t, api.Options{}, api.ConsoleOptions{})
	tests := []struct {
		path        string
		status      int
		contentType string
	}{
		{"/ui/", http.StatusOK, "text/html; charset=utf-8"},
		{"/ui/index.html", http.StatusOK, "text/html; charset=utf-8"},
		{"/ui/js/app.js", http.StatusOK, "text/javascript; charset=utf-8"},
		{"/ui/style.css", http.StatusOK, "text/css; charset=utf-8"},
		{"/ui/nothing.js", http.StatusNotFound, "application/json"},
		{"/ui/api/nothing", http.StatusNotFound, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := e.get(t, tt.path)
			wantStatus(t, resp, tt.status)
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("CSP %q allows unsafe sources", csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
	resp := e.get(t, "/ui")
	if resp.Request.URL.Path != "/ui/" {
		t.Errorf("GET /ui ended at %s, want a redirect to /ui/", resp.Request.URL.Path)
	}
}

// The console's own files: no markup made from strings, no inline script,
// nothing from another host.
func TestConsoleFilesAreSafe(t *testing.T) {
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|https?://|//[a-z0-9.-]+\.[a-z]{2,}/|\son[a-z]+=`)
	err := fs.WalkDir(ui.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(ui.Files(), path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") && !strings.Contains(line, "http") {
				continue // a comment
			}
			if m := forbidden.FindString(line); m != "" && !strings.Contains(line, "www.w3.org/2000/svg") {
				t.Errorf("%s:%d: %q in %s", path, i+1, m, strings.TrimSpace(line))
			}
		}
		if strings.HasSuffix(path, ".html") && regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).Match(data) {
			t.Errorf("%s has an inline script", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConsoleAuth(t *testing.T) {
	e := consoleEnv(t, api.Options{AuthToken: "s3cret"}, api.ConsoleOptions{})
	wantStatus(t, e.get(t, "/ui/"), http.StatusOK) // the files hold no data
	wantStatus(t, e.get(t, "/ui/api/config"), http.StatusUnauthorized)
	wantStatus(t, e.get(t, "/"), http.StatusUnauthorized)
	wantStatus(t, e.post(t, "/ui/login", "application/json", []byte(`{"token":"wrong"}`)), http.StatusUnauthorized)
	resp := e.post(t, "/ui/login", "application/json", []byte(`{"token":"s3cret"}`))
	wantStatus(t, resp, http.StatusOK)
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login cookie %+v: want one HttpOnly, SameSite=Strict cookie", cookies)
	}
	cookie := cookies[0].Name + "=" + cookies[0].Value
	body := wantStatus(t, e.get(t, "/ui/api/config", "Cookie: "+cookie), http.StatusOK)
	if !strings.Contains(body, `"auth":true`) {
		t.Errorf("config %s does not say the gateway asks for a token", body)
	}
	wantStatus(t, e.get(t, "/", "Cookie: "+cookie), http.StatusOK)
	wantStatus(t, e.get(t, "/", "Cookie: "+cookies[0].Name+"=wrong"), http.StatusUnauthorized)
	// A wrong bearer token is not rescued by a right cookie.
	wantStatus(t, e.get(t, "/", "Cookie: "+cookie, "Authorization: Bearer wrong"), http.StatusUnauthorized)
}

func TestConsoleCall(t *testing.T) {
	e := consoleEnv(t, api.Options{}, api.ConsoleOptions{})
	t.Run("unary", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/ui/api/call", "application/json",
			[]byte(`{"service":"greeter","endpoint":"Greeter.Hello","request":{"name":"Ada"},"metadata":{"x-echo":"hi","not-allowed":"x"}}`)), http.StatusOK)
		events := ndjsonEvents(t, body)
		if got := kinds(events); got != "node header message trailer end" {
			t.Fatalf("events %q: want node header message trailer end\n%s", got, body)
		}
		if events[0].Address == "" || !strings.HasPrefix(events[0].Address, "127.0.0.1:") {
			t.Errorf("node %q", events[0].Address)
		}
		if events[1].Metadata["x-echo"] != "hi" {
			t.Errorf("headers %v: want x-echo: hi back (the request's metadata passed the allow list)", events[1].Metadata)
		}
		if string(events[2].Message) != `{"message":"Hello Ada"}` {
			t.Errorf("message %s", events[2].Message)
		}
		if end := events[4]; end.Code == nil || *end.Code != 0 || end.Status != "OK" {
			t.Errorf("end %+v", end)
		}
	})
	t.Run("error", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/ui/api/call", "application/json",
			[]byte(`{"service":"greeter","endpoint":"Greeter.Hello","request":{}}`)), http.StatusOK)
		events := ndjsonEvents(t, body)
		end := events[len(events)-1]
		if end.Event != "end" || end.Code == nil || *end.Code != 3 || end.Status != "INVALID_ARGUMENT" || end.Error != "name is required" {
			t.Fatalf("end %+v", end)
		}
		if len(end.Details) != 1 || !strings.Contains(string(end.Details[0]), "google.rpc.BadRequest") {
			t.Errorf("details %s: want the BadRequest decoded", end.Details)
		}
	})
	t.Run("server stream", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/ui/api/call", "application/json",
			[]byte(`{"service":"greeter","endpoint":"Greeter.Stream","request":{"name":"Ada","count":3}}`)), http.StatusOK)
		var seqs []int
		for _, ev := range ndjsonEvents(t, body) {
			if ev.Event == "message" {
				seqs = append(seqs, ev.Sequence)
			}
		}
		if len(seqs) != 3 || seqs[0] != 1 || seqs[2] != 3 {
			t.Errorf("sequences %v, want 1 2 3", seqs)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		// A form post from another site cannot reach the console.
		for _, path := range []string{"/ui/api/call", "/ui/api/publish", "/ui/api/bench", "/ui/api/sessions", "/ui/login"} {
			resp := e.post(t, path, "text/plain", []byte(`{"service":"greeter","endpoint":"Greeter.Hello","request":{"name":"Ada"}}`))
			wantStatus(t, resp, http.StatusUnsupportedMediaType)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for _, body := range []string{`{`, `{"service":"greeter"}`, `{"service":"nope","endpoint":"A.B"}`, `{"service":"greeter","endpoint":"Greeter.Collect"}`} {
			resp := e.post(t, "/ui/api/call", "application/json", []byte(body))
			if resp.StatusCode < 400 {
				t.Errorf("%s: HTTP %d, want an error", body, resp.StatusCode)
			}
		}
	})
}

// readSSE reads Server-Sent Events from resp until stop says so.
func readSSE(t *testing.T, resp *http.Response, stop func(name, data string) bool) {
	t.Helper()
	scanner := bufio.NewScanner(resp.Body)
	name := ""
	for scanner.Scan() {
		line := scanner.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if stop(name, strings.TrimPrefix(line, "data: ")) {
				return
			}
		}
	}
	t.Fatalf("the event stream ended: %v", scanner.Err())
}

func TestConsoleSession(t *testing.T) {
	e := consoleEnv(t, api.Options{}, api.ConsoleOptions{})
	body := wantStatus(t, e.post(t, "/ui/api/sessions", "application/json", []byte(`{"service":"greeter","endpoint":"Greeter.Chat"}`)), http.StatusOK)
	var opened struct{ ID string }
	if err := json.Unmarshal([]byte(body), &opened); err != nil || opened.ID == "" {
		t.Fatalf("open: %s (%v)", body, err)
	}
	events := e.get(t, "/ui/api/sessions/"+opened.ID+"/events")
	for _, name := range []string{"Ada", "Grace"} {
		wantStatus(t, e.post(t, "/ui/api/sessions/"+opened.ID+"/send", "application/json", []byte(`{"name":"`+name+`"}`)), http.StatusOK)
	}
	wantStatus(t, e.post(t, "/ui/api/sessions/"+opened.ID+"/send", "application/json", []byte(`{"nope":1}`)), http.StatusBadRequest)
	wantStatus(t, e.post(t, "/ui/api/sessions/"+opened.ID+"/close", "application/json", nil), http.StatusOK)
	var messages []string
	var end event
	readSSE(t, events, func(name, data string) bool {
		var ev event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		if name == "message" {
			var m struct{ Message string }
			_ = json.Unmarshal(ev.Message, &m)
			messages = append(messages, m.Message)
		}
		end = ev
		return name == "end"
	})
	if strings.Join(messages, ",") != "Hello Ada,Hello Grace" || end.Code == nil || *end.Code != 0 {
		t.Errorf("messages %q, end %+v", messages, end)
	}
	// A unary method is no session.
	wantStatus(t, e.post(t, "/ui/api/sessions", "application/json", []byte(`{"service":"greeter","endpoint":"Greeter.Hello"}`)), http.StatusBadRequest)
	wantStatus(t, e.get(t, "/ui/api/sessions/nope/events"), http.StatusNotFound)
}

func TestConsoleDescribe(t *testing.T) {
	e := consoleEnv(t, api.Options{}, api.ConsoleOptions{})
	var svc api.ConsoleService
	if err := json.Unmarshal([]byte(wantStatus(t, e.get(t, "/ui/api/describe/greeter"), http.StatusOK)), &svc); err != nil {
		t.Fatal(err)
	}
	streams := map[string]string{}
	for _, ep := range svc.Endpoints {
		streams[ep.Name] = ep.Stream
	}
	if streams["Greeter.Hello"] != "unary" || streams["Greeter.Stream"] != "server" || streams["Greeter.Collect"] != "client" || streams["Greeter.Chat"] != "bidi" {
		t.Errorf("endpoint kinds %v", streams)
	}
	req, ok := svc.Messages["greeter.v1.HelloRequest"]
	if !ok {
		t.Fatalf("no greeter.v1.HelloRequest in %v", svc.Messages)
	}
	fields := map[string]api.ConsoleField{}
	for _, f := range req.Fields {
		fields[f.JSONName] = f
	}
	if f := fields["mood"]; f.Kind != "enum" || f.Type != "greeter.v1.Mood" {
		t.Errorf("mood %+v", f)
	}
	// Comments: greeter's generated descriptors carry none (protoc-gen-go
	// drops them); e2e/browser/kitchen.mjs sees them from a .proto.
	if f := fields["tags"]; !f.Repeated || f.Kind != "string" {
		t.Errorf("tags %+v", f)
	}
	if f := fields["sentAt"]; f.Type != "google.protobuf.Timestamp" || !svc.Messages[f.Type].WellKnown {
		t.Errorf("sentAt %+v", f)
	}
	if e := svc.Enums["greeter.v1.Mood"]; len(e.Values) != 3 || e.Values[1].Name != "MOOD_HAPPY" {
		t.Errorf("Mood %+v", e)
	}
	resp := e.get(t, "/ui/api/protoset/greeter")
	if data := wantStatus(t, resp, http.StatusOK); !strings.Contains(data, "greeter.v1") {
		t.Error("the protoset does not hold greeter.v1")
	}
}

func TestConsoleTopics(t *testing.T) {
	e := consoleEnv(t, api.Options{}, api.ConsoleOptions{})
	sub := e.get(t, "/ui/api/subscribe?topic=console.test")
	if sub.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: HTTP %d: %s", sub.StatusCode, readAll(t, sub))
	}
	got := make(chan api.TopicMessage, 1)
	go func() {
		scanner := bufio.NewScanner(sub.Body)
		name := ""
		for scanner.Scan() {
			line := scanner.Text()
			if n, ok := strings.CutPrefix(line, "event: "); ok {
				name = n
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok && name == "message" {
				var m api.TopicMessage
				_ = json.Unmarshal([]byte(d), &m)
				got <- m
				return
			}
		}
	}()
	// The subscription is made before the first event is written.
	time.Sleep(100 * time.Millisecond)
	wantStatus(t, e.post(t, "/ui/api/publish", "application/json",
		[]byte(`{"topic":"console.test","body":"{\"a\":1}","header":{"X-Trace":"t-1"}}`)), http.StatusOK)
	select {
	case m := <-got:
		if m.Topic != "console.test" || string(m.JSON) != `{"a":1}` || m.Header["X-Trace"][0] != "t-1" {
			t.Errorf("message %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message on the subscription")
	}
	// Typed: JSON in, protobuf on the broker.
	wantStatus(t, e.post(t, "/ui/api/publish", "application/json",
		[]byte(`{"topic":"console.typed","body":"{\"name\":\"Ada\"}","type":"greeter.v1.HelloRequest","service":"greeter"}`)), http.StatusOK)
	wantStatus(t, e.post(t, "/ui/api/publish", "application/json", []byte(`{"topic":"a.*","body":"x"}`)), http.StatusBadRequest)
	wantStatus(t, e.post(t, "/ui/api/publish", "application/json", []byte(`{"topic":"a","body":"x","type":"no.Such","service":"greeter"}`)), http.StatusNotFound)
	wantStatus(t, e.get(t, "/ui/api/subscribe"), http.StatusBadRequest)
}

func TestConsoleBench(t *testing.T) {
	e := consoleEnv(t, api.Options{}, api.ConsoleOptions{MaxBenchConcurrency: 2, MaxBenchDuration: 600 * time.Millisecond})
	body := wantStatus(t, e.post(t, "/ui/api/bench", "application/json",
		[]byte(`{"service":"greeter","endpoint":"Greeter.Hello","request":{"name":"load"},"concurrency":100,"durationMs":60000}`)), http.StatusOK)
	var reports []api.BenchReport
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		var r api.BenchReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		reports = append(reports, r)
	}
	end := reports[len(reports)-1]
	if end.Event != "end" || !end.Capped || end.Concurrency != 2 || end.DurationMs != 600 {
		t.Fatalf("end %+v: want the run capped at 2 callers for 600 ms", end)
	}
	if len(reports) < 3 {
		t.Errorf("%d reports: want ticks between start and end", len(reports))
	}
	var sum int64
	for _, c := range end.Counts {
		sum += c
	}
	if end.Count == 0 || sum != end.Count || end.Errors != 0 || len(end.Counts) != len(end.Bounds)+1 {
		t.Errorf("end %+v: histogram sums to %d", end, sum)
	}
	wantStatus(t, e.post(t, "/ui/api/bench", "application/json", []byte(`{"service":"greeter","endpoint":"Greeter.Stream"}`)), http.StatusBadRequest)
}
