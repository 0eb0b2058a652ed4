package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/api"
)

// The Host check against DNS rebinding: on loopback only the loopback
// names and the listed hosts are served; beyond loopback every Host unless
// hosts are listed.
func TestHostCheck(t *testing.T) {
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	loopback6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}
	anyAddr := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	external := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 8080}
	cases := []struct {
		name    string
		listen  net.Addr
		allowed []string
		host    string
		want    bool
	}{
		{"loopback: 127.0.0.1 with a port", loopback, nil, "127.0.0.1:8080", true},
		{"loopback: 127.0.0.1 without a port", loopback, nil, "127.0.0.1", true},
		{"loopback: localhost", loopback, nil, "localhost:8080", true},
		{"loopback: LOCALHOST.", loopback, nil, "LOCALHOST.:9", true},
		{"loopback: [::1]", loopback, nil, "[::1]:8080", true},
		{"loopback: [::1] without a port", loopback6, nil, "[::1]", true},
		{"loopback: another loopback IP", loopback, nil, "127.0.0.2:8080", true},
		{"loopback: a mapped IPv4 loopback", loopback6, nil, "[::ffff:127.0.0.1]:8080", true},
		{"loopback: a rebound name", loopback, nil, "evil.example:8080", false},
		{"loopback: a rebound name without a port", loopback6, nil, "evil.example", false},
		{"loopback: a name ending in localhost", loopback, nil, "localhost.evil.example", false},
		{"loopback: an IP of another machine", loopback, nil, "10.0.0.5:8080", false},
		{"loopback: no Host", loopback, nil, "", false},
		{"loopback: a Host that is no host:port", loopback, nil, "localhost:80:80", false},
		{"loopback: an IPv6 Host without brackets", loopback, nil, "::1", true},
		{"loopback: a bad port", loopback, nil, "localhost:http", false},
		{"unknown listen address: as loopback", nil, nil, "evil.example", false},
		{"listed: the name", loopback, []string{"api.example.com"}, "api.example.com:8080", true},
		{"listed: in another case, final dot", loopback, []string{"API.example.com"}, "api.EXAMPLE.com.", true},
		{"listed: with a port, any port", loopback, []string{"api.example.com:443"}, "api.example.com:8080", true},
		{"listed: several in one entry", loopback, []string{"a.example, b.example"}, "b.example", true},
		{"listed: an IP", loopback, []string{"10.0.0.5"}, "10.0.0.5:8080", true},
		{"listed: an IPv6 address", loopback, []string{"[fd00::5]:80"}, "[fd00::5]:8080", true},
		{"listed: loopback names still served", loopback, []string{"api.example.com"}, "localhost:8080", true},
		{"listed: another name", loopback, []string{"api.example.com"}, "evil.example", false},
		{"listed: a subdomain is another name", loopback, []string{"example.com"}, "api.example.com", false},
		{"listed: *", loopback, []string{"*"}, "evil.example", true},
		{"non-loopback: any Host", external, nil, "evil.example:8080", true},
		{"non-loopback: 0.0.0.0, any Host", anyAddr, nil, "api.example.com", true},
		{"non-loopback: listed", anyAddr, []string{"api.example.com"}, "api.example.com", true},
		{"non-loopback: listed, loopback names", anyAddr, []string{"api.example.com"}, "127.0.0.1:8080", true},
		{"non-loopback: listed, another", external, []string{"api.example.com"}, "evil.example", false},
	}
	// 0.0.0.0 serves any Host to a client of another machine, but a request
	// that reached it over loopback (a rebound name) only with a loopback
	// or listed name.
	overLoopback := []struct {
		name   string
		listen net.Addr
		local  net.Addr
		host   string
		want   bool
	}{
		{"0.0.0.0 over 127.0.0.1: a rebound name", anyAddr, loopback, "evil.example", false},
		{"0.0.0.0 over [::1]: a rebound name", anyAddr, loopback6, "evil.example", false},
		{"0.0.0.0 over 127.0.0.1: localhost", anyAddr, loopback, "localhost:8080", true},
		{"0.0.0.0 over a LAN address: any name", anyAddr, external, "api.example.com", true},
	}
	for _, tc := range overLoopback {
		t.Run(tc.name, func(t *testing.T) {
			check, err := api.NewHostCheck(tc.listen, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tc.local))
			req.Host = tc.host
			if have := check.Allowed(req); have != tc.want {
				t.Fatalf("Allowed(Host %q over %v) = %v, want %v", tc.host, tc.local, have, tc.want)
			}
			if !tc.want {
				rec := httptest.NewRecorder()
				check.Handler(http.NotFoundHandler()).ServeHTTP(rec, req)
				if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "was reached over loopback") {
					t.Errorf("want 403 saying the gateway was reached over loopback, have %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("served")) })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check, err := api.NewHostCheck(tc.listen, tc.allowed)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			req.Host = tc.host
			if have := check.Allowed(req); have != tc.want {
				t.Fatalf("Allowed(Host %q) = %v, want %v", tc.host, have, tc.want)
			}
			rec := httptest.NewRecorder()
			check.Handler(ok).ServeHTTP(rec, req)
			if tc.want {
				if rec.Code != http.StatusOK || rec.Body.String() != "served" {
					t.Errorf("want the request served, have %d %q", rec.Code, rec.Body)
				}
				return
			}
			var body struct {
				Code    int
				Status  string
				Message string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("want a JSON error, have %q: %v", rec.Body, err)
			}
			if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Type") != "application/json" || body.Status != "PERMISSION_DENIED" {
				t.Errorf("want 403 PERMISSION_DENIED as JSON, have %d %s %+v", rec.Code, rec.Header().Get("Content-Type"), body)
			}
			for _, want := range []string{`host "` + tc.host + `" refused`, "DNS rebinding", "--allowed-host"} {
				if !strings.Contains(body.Message, want) {
					t.Errorf("the message should say %q: %s", want, body.Message)
				}
			}
		})
	}
}

func TestHostCheckMessage(t *testing.T) {
	check, err := api.NewHostCheck(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, []string{"api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/greeter/Greeter.Hello", nil)
	req.Host = "evil.example:8080"
	rec := httptest.NewRecorder()
	check.Handler(http.NotFoundHandler()).ServeHTTP(rec, req)
	want := `{"code":7,"status":"PERMISSION_DENIED","message":"host \"evil.example:8080\" refused (DNS rebinding protection): the gateway listens on loopback and serves the hosts localhost, 127.0.0.1, [::1], api.example.com; if \"evil.example:8080\" names this gateway (a proxy's name, say), start micro api with --allowed-host evil.example"}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("want\n%s\nhave\n%s", want, rec.Body)
	}
}

func TestNewHostCheckErrors(t *testing.T) {
	for _, bad := range []string{"http://api.example.com", "api.example.com/x", "user@api.example.com", "*.example.com", "api.example.com:http", "[::1", "[]", ":80"} {
		if _, err := api.NewHostCheck(nil, []string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: want an error naming it, have %v", bad, err)
		}
	}
	if _, err := api.NewHostCheck(nil, []string{"", " , "}); err != nil {
		t.Errorf("empty entries are no hosts: %v", err)
	}
}

// The accepted path allocates nothing: it runs on every request.
func TestHostCheckAllocatesNothing(t *testing.T) {
	check, err := api.NewHostCheck(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, []string{"api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "API.example.com:443"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		if allocs := testing.AllocsPerRun(100, func() {
			if !check.Allowed(req) {
				t.Fatal("refused")
			}
		}); allocs != 0 {
			t.Errorf("Host %s: %v allocations per request", host, allocs)
		}
	}
}

// TestGatewayHosts checks Options.Hosts: the check comes before the token,
// CORS and routing, and a refused request reaches the access log with the
// host it named.
func TestGatewayHosts(t *testing.T) {
	check, err := api.NewHostCheck(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, []string{"api.test"})
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	e := newEnv(t, api.Options{Hosts: check, AuthToken: "secret", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	do := func(host, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.server.URL+path, strings.NewReader(`{"name":"Ada"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, host := range []string{"127.0.0.1", "api.test:8080"} {
		if code, body := do(host, "/greeter/Greeter.Hello"); code != http.StatusOK || !strings.Contains(body, "Hello Ada") {
			t.Errorf("Host %s: want 200, have %d %s", host, code, body)
		}
	}
	code, body := do("evil.example", "/greeter/Greeter.Hello")
	var answer struct{ Status, Message string }
	if code != http.StatusForbidden || json.Unmarshal([]byte(body), &answer) != nil || answer.Status != "PERMISSION_DENIED" ||
		!strings.Contains(answer.Message, `host "evil.example" refused`) || !strings.Contains(answer.Message, "api.test") {
		t.Fatalf("Host evil.example: want 403 naming the host and the allowed ones, have %d %s", code, body)
	}
	var refused map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var record map[string]any
		if json.Unmarshal([]byte(line), &record) == nil && record["status"] == float64(http.StatusForbidden) {
			refused = record
		}
	}
	if refused == nil || refused["path"] != "/greeter/Greeter.Hello" || !strings.Contains(fmt.Sprint(refused["error"]), "evil.example") {
		t.Errorf("want an access log record of the refused request (403, its path, the host in its error); have:\n%s", logs.String())
	}
}
