package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	brokermemory "github.com/microtools/micro/pkg/broker/memory"
)

func httpDo(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// TestAPIConsole: micro api serves the console with --open printing its
// URL, and its client gives the console health checks, the node that
// answered and client streams.
func TestAPIConsole(t *testing.T) {
	out := &testutil.SyncBuffer{}
	gw := startGateway(t, func(o *Options) {
		o.Open = true
		o.Runtime.IO.Out = out
		o.Broker = func(context.Context) (broker.Broker, error) { return brokermemory.New(), nil }
	})
	if got, want := out.String(), gw.url+"/ui/\n"; got != want {
		t.Errorf("--open printed %q, want %q", got, want)
	}
	resp, _ := httpDo(t, http.MethodGet, gw.url+"/ui/", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET /ui/: HTTP %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	_, body := httpDo(t, http.MethodGet, gw.url+"/ui/api/config", "")
	var cfg struct{ Topics, Streams, Health bool }
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || !cfg.Topics || !cfg.Streams || !cfg.Health {
		t.Errorf("config %s: want topics, streams and health on", body)
	}
	_, body = httpDo(t, http.MethodPost, gw.url+"/ui/api/health/greeter", "{}")
	if !strings.Contains(body, `"status":"SERVING"`) {
		t.Errorf("health: %s", body)
	}
	_, body = httpDo(t, http.MethodPost, gw.url+"/ui/api/call", `{"service":"greeter","endpoint":"Greeter.Hello","request":{"name":"Ada"}}`)
	if !strings.Contains(body, `"event":"node","address":"127.0.0.1:`) || !strings.Contains(body, `Hello Ada`) {
		t.Errorf("call: %s", body)
	}

	// A client stream, message by message.
	_, body = httpDo(t, http.MethodPost, gw.url+"/ui/api/sessions", `{"service":"greeter","endpoint":"Greeter.Collect"}`)
	var opened struct{ ID string }
	if err := json.Unmarshal([]byte(body), &opened); err != nil || opened.ID == "" {
		t.Fatalf("open: %s", body)
	}
	for _, name := range []string{"Ada", "Grace"} {
		if resp, body := httpDo(t, http.MethodPost, gw.url+"/ui/api/sessions/"+opened.ID+"/send", `{"name":"`+name+`"}`); resp.StatusCode != http.StatusOK {
			t.Fatalf("send: %s", body)
		}
	}
	httpDo(t, http.MethodPost, gw.url+"/ui/api/sessions/"+opened.ID+"/close", "")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, gw.url+"/ui/api/sessions/"+opened.ID+"/events", nil)
	events, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	var all strings.Builder
	scanner := bufio.NewScanner(events.Body)
	for scanner.Scan() {
		all.WriteString(scanner.Text() + "\n")
	}
	if s := all.String(); !strings.Contains(s, `"count":2`) || !strings.Contains(s, "event: end") || !strings.Contains(s, `"code":0`) {
		t.Errorf("Collect events:\n%s", s)
	}
}

// TestAPINoConsole: --no-console leaves /ui/ out.
func TestAPINoConsole(t *testing.T) {
	gw := startGateway(t, func(o *Options) { o.NoConsole = true })
	if resp, body := httpDo(t, http.MethodGet, gw.url+"/ui/", ""); resp.StatusCode == http.StatusOK {
		t.Errorf("GET /ui/ with --no-console: HTTP %d: %s", resp.StatusCode, body)
	}
}
