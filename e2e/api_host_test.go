package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// doHost sends one request to the gateway with the Host header host, as a
// browser does for a page whose name was made to resolve to 127.0.0.1
// (DNS rebinding).
func (g *apiGateway) doHost(t *testing.T, host, method, path, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

// micro api on loopback serves the loopback names and the hosts of
// --allowed-host (or $MICRO_API_ALLOWED_HOSTS) only: a call with any other
// Host is refused with a JSON error naming the host and the flag.
func TestAPIHostCheck(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	port := func(g *apiGateway) string { return g.url[strings.LastIndexByte(g.url, ':'):] }
	hello := `{"name":"Ada"}`

	gw := startAPI(t, b)
	for _, host := range []string{"127.0.0.1" + port(gw), "localhost" + port(gw), "LocalHost"} {
		if code, body := gw.doHost(t, host, "POST", "/greeter/Greeter.Hello", hello); code != 200 || !strings.Contains(body, "Hello Ada") {
			t.Errorf("Host %s: want 200, have %d %s", host, code, body)
		}
	}
	for _, path := range []string{"/greeter/Greeter.Hello", "/healthz", "/ui/", "/openapi.json"} {
		code, body := gw.doHost(t, "evil.example"+port(gw), "POST", path, hello)
		var e struct{ Status, Message string }
		if code != 403 || json.Unmarshal([]byte(body), &e) != nil || e.Status != "PERMISSION_DENIED" ||
			!strings.Contains(e.Message, `host "evil.example`+port(gw)+`" refused`) || !strings.Contains(e.Message, "--allowed-host evil.example") {
			t.Errorf("%s with Host evil.example: want 403 naming the host and --allowed-host, have %d %s", path, code, body)
		}
	}
	// Refused requests are in the access log (written out within 50ms).
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(gw.proc.Output(), `status=403`) || !strings.Contains(gw.proc.Output(), `evil.example`) {
		if time.Now().After(deadline) {
			t.Errorf("the access log has no line of the refused requests:\n%s", gw.proc.Output())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	listed := startAPI(t, b, "--allowed-host", "api.test,other.test", "--allowed-host", "third.test")
	withEnv := b
	withEnv.env = append(slices.Clone(b.env), "MICRO_API_ALLOWED_HOSTS=api.test")
	fromEnv := startAPI(t, withEnv)
	for name, g := range map[string]*apiGateway{"--allowed-host": listed, "MICRO_API_ALLOWED_HOSTS": fromEnv} {
		if code, body := g.doHost(t, "api.test"+port(g), "POST", "/greeter/Greeter.Hello", hello); code != 200 || !strings.Contains(body, "Hello Ada") {
			t.Errorf("%s: a listed host: want 200, have %d %s", name, code, body)
		}
		if code, body := g.doHost(t, "127.0.0.1"+port(g), "GET", "/healthz", ""); code != 200 {
			t.Errorf("%s: 127.0.0.1 is still served: have %d %s", name, code, body)
		}
		if code, body := g.doHost(t, "evil.example", "GET", "/healthz", ""); code != 403 || !strings.Contains(body, "api.test") {
			t.Errorf("%s: another host: want 403 listing the allowed ones, have %d %s", name, code, body)
		}
	}
	if code, _ := listed.doHost(t, "third.test", "GET", "/healthz", ""); code != 200 {
		t.Errorf("a host of the second --allowed-host: want 200, have %d", code)
	}

	res := micro(t, env(b.env...), "api", "--address", "127.0.0.1:0", "--allowed-host", "http://api.test")
	assertCleanError(t, res, 2, `--allowed-host: api: allowed host "http://api.test"`)
}
