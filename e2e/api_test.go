package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testutil"
)

// apiGateway is a running `micro api`.
type apiGateway struct {
	url  string
	proc *process
}

var apiListening = regexp.MustCompile(`micro api: listening on (http://127\.0\.0\.1:\d+)`)

// startAPI runs `micro api` on a free port against b.
func startAPI(t *testing.T, b backend, args ...string) *apiGateway {
	t.Helper()
	p := start(t, env(append([]string{"XDG_CACHE_HOME=" + t.TempDir()}, b.env...)...), microBin,
		append([]string{"api", "--address", "127.0.0.1:0"}, args...)...)
	var url string
	testutil.Eventually(t, 20*time.Second, func() error {
		m := apiListening.FindStringSubmatch(p.Output())
		if m == nil {
			return fmt.Errorf("micro api has not said where it listens: %q", p.Output())
		}
		url = m[1]
		return nil
	})
	return &apiGateway{url: url, proc: p}
}

// do sends one request, curl style, and returns the response with its
// body read.
func (g *apiGateway) do(t *testing.T, method, path, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, string(data)
}

// TestAPIGoMicroRoutes: the built binary in front of a greeter found in
// `micro server`, on both go-micro routes, unary and server streaming
// (NDJSON and SSE), an error with its HTTP status and decoded details, and
// headers both ways.
func TestAPIGoMicroRoutes(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	gw := startAPI(t, b)

	for _, path := range []string{"/greeter/Greeter.Hello", "/greeter/Greeter/Hello"} {
		resp, body := gw.do(t, "POST", path, `{"name":"Ada"}`, "X-Echo: e2e")
		if resp.StatusCode != 200 || body != `{"message":"Hello Ada"}`+"\n" {
			t.Errorf("POST %s: want 200 and the greeting, have %d %q", path, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Echo") != "e2e" || resp.Header.Get("Trailer-X-Echo-Trailer") != "e2e" {
			t.Errorf("POST %s: want X-Echo and Trailer-X-Echo-Trailer back, have %v", path, resp.Header)
		}
	}
	for _, path := range []string{"/greeter/Greeter.Stream", "/greeter/Greeter/Stream"} {
		resp, body := gw.do(t, "POST", path, `{"name":"Ada","count":3}`)
		want := `{"message":"Hello Ada","sequence":1}` + "\n" + `{"message":"Hello Ada","sequence":2}` + "\n" + `{"message":"Hello Ada","sequence":3}` + "\n"
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || body != want {
			t.Errorf("POST %s: want NDJSON %q, have %d %s %q", path, want, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		resp, body = gw.do(t, "POST", path, `{"name":"Ada","count":2}`, "Accept: text/event-stream")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
			strings.Count(body, "event: message\n") != 2 || !strings.Contains(body, `data: {"message":"Hello Ada","sequence":2}`) || !strings.HasSuffix(body, "event: end\ndata: {}\n\n") {
			t.Errorf("POST %s with Accept: text/event-stream: have %d %q", path, resp.StatusCode, body)
		}
	}

	resp, body := gw.do(t, "POST", "/greeter/Greeter.Hello", `{}`)
	var apiErr struct {
		Code    int              `json:"code"`
		Status  string           `json:"status"`
		Message string           `json:"message"`
		Details []map[string]any `json:"details"`
	}
	if err := json.Unmarshal([]byte(body), &apiErr); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	if resp.StatusCode != 400 || apiErr.Code != 3 || apiErr.Status != "INVALID_ARGUMENT" || apiErr.Message != "name is required" ||
		len(apiErr.Details) != 1 || apiErr.Details[0]["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
		t.Errorf("want 400 with code 3 and the BadRequest detail, have %d %s", resp.StatusCode, body)
	}
	if resp, body := gw.do(t, "POST", "/nobody/Greeter.Hello", `{}`); resp.StatusCode != 404 || !strings.Contains(body, `"code":5`) {
		t.Errorf("unknown service: want 404 with code 5, have %d %s", resp.StatusCode, body)
	}
	if resp, body := gw.do(t, "POST", "/greeter/Greeter.Collect", `{}`); resp.StatusCode != 501 || !strings.Contains(body, "micro stream greeter Greeter.Collect") {
		t.Errorf("client streaming: want 501 naming micro stream, have %d %s", resp.StatusCode, body)
	}
	// Listing, schemas, health.
	if resp, body := gw.do(t, "GET", "/", ""); resp.StatusCode != 200 || !strings.Contains(body, `"name":"greeter"`) {
		t.Errorf("GET /: %d %s", resp.StatusCode, body)
	}
	if resp, body := gw.do(t, "GET", "/greeter", ""); resp.StatusCode != 200 || !strings.Contains(body, `"greeter.v1.HelloRequest"`) {
		t.Errorf("GET /greeter: %d %s", resp.StatusCode, body)
	}
	if resp, _ := gw.do(t, "GET", "/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}
	if resp, body := gw.do(t, "GET", "/metrics", ""); resp.StatusCode != 200 || !strings.Contains(body, `micro_api_requests_total{code="OK",endpoint="Greeter.Hello",protocol="json",service="greeter"} 2`) {
		t.Errorf("GET /metrics: want two OK Hello calls counted, have %d\n%s", resp.StatusCode, grepLines(body, "micro_api_requests_total"))
	}
	// The access log: one structured line per request on stderr, written
	// out within 50ms.
	testutil.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(gw.proc.Output(), `msg=request method=POST path=/greeter/Greeter.Hello status=400 protocol=json`) {
			return fmt.Errorf("no access log line for the failed call:\n%s", gw.proc.Output())
		}
		return nil
	})
}

func grepLines(text, word string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestAPISecurity: --auth-token rejects a request without the token (401),
// and CORS answers only the --cors-origin origin.
func TestAPISecurity(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	gw := startAPI(t, b, "--auth-token", "s3cret", "--cors-origin", "http://app.test")

	if resp, body := gw.do(t, "POST", "/greeter/Greeter.Hello", `{"name":"Ada"}`); resp.StatusCode != 401 || !strings.Contains(body, "missing bearer token") {
		t.Errorf("no token: want 401, have %d %s", resp.StatusCode, body)
	}
	if resp, _ := gw.do(t, "POST", "/greeter/Greeter.Hello", `{"name":"Ada"}`, "Authorization: Bearer wrong"); resp.StatusCode != 401 {
		t.Errorf("wrong token: want 401, have %d", resp.StatusCode)
	}
	if resp, body := gw.do(t, "POST", "/greeter/Greeter.Hello", `{"name":"Ada"}`, "Authorization: Bearer s3cret"); resp.StatusCode != 200 || !strings.Contains(body, "Hello Ada") {
		t.Errorf("right token: want 200, have %d %s", resp.StatusCode, body)
	}
	if resp, _ := gw.do(t, "GET", "/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("/healthz needs no token: have %d", resp.StatusCode)
	}

	preflight := func(origin string) *http.Response {
		resp, _ := gw.do(t, "OPTIONS", "/greeter/Greeter.Hello", "", "Origin: "+origin, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization, content-type")
		return resp
	}
	if resp := preflight("http://app.test"); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.test" {
		t.Errorf("listed origin: want 204 with Access-Control-Allow-Origin, have %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("http://other.test"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: want 403 without CORS headers, have %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ := gw.do(t, "POST", "/greeter/Greeter.Hello", `{"name":"Ada"}`, "Authorization: Bearer s3cret", "Origin: http://other.test")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: a call must carry no CORS headers, have %v", resp.Header)
	}
}

// TestAPILiveRegistry: a service that registers after the gateway started
// is routable without a restart, and announced on /events; once it stops,
// the gateway says it is gone.
func TestAPILiveRegistry(t *testing.T) {
	b := natsBackend(t)
	gw := startAPI(t, b)
	if resp, _ := gw.do(t, "POST", "/greeter/Greeter.Hello", `{"name":"Ada"}`); resp.StatusCode != 404 {
		t.Fatalf("before greeter starts: want 404, have %d", resp.StatusCode)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", gw.url+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 64)
	go func() {
		scanner := bufio.NewScanner(resp.Body)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		for scanner.Scan() {
			if name, ok := strings.CutPrefix(scanner.Text(), "event: "); ok {
				events <- name
			}
		}
	}()
	if first := <-events; first != "services" {
		t.Fatalf("want the services event first, have %q", first)
	}

	greeter := startGreeter(t, b)
	select {
	case ev := <-events:
		if ev != "create" && ev != "update" {
			t.Errorf("want a create event when greeter registers, have %q", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no event on /events when greeter registered")
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		resp, body := gw.do(t, "POST", "/greeter/Greeter.Hello", `{"name":"Ada"}`)
		if resp.StatusCode != 200 {
			return fmt.Errorf("want 200, have %d %s", resp.StatusCode, body)
		}
		return nil
	})

	greeter.signal(syscall.SIGTERM)
	greeter.wait(t, 20*time.Second)
	testutil.Eventually(t, 20*time.Second, func() error {
		resp, body := gw.do(t, "POST", "/greeter/Greeter.Hello", `{"name":"Ada"}`)
		if resp.StatusCode != 404 && resp.StatusCode != 503 {
			return fmt.Errorf("after greeter stopped: want 404 or 503, have %d %s", resp.StatusCode, body)
		}
		return nil
	})
}
