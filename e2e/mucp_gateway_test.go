package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/microtools/micro/internal/testutil"
)

// The gateway and the MCP server in front of a go-micro service: the mucp
// fixture (internal/mucp/mucpgreeter, standing in for a default go-micro
// service, which cannot be built here) answering go-micro's NATS registry
// queries on a `micro server`.

// startMucpOnNATS runs `micro server` and the mucp fixture "legacy"
// registered in it, and waits until micro lists it.
func startMucpOnNATS(t *testing.T) backend {
	t.Helper()
	addr, _ := startMicroServer(t)
	b := backend{name: "nats", env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + addr}}
	startMucp(t, "nats", "nats://"+addr, "legacy")
	waitListed(t, env(b.env...), "legacy", 1)
	return b
}

// TestAPIMucpService: `micro api` calls a go-micro mucp endpoint known
// from its registry record with the JSON as it is, and maps a go-micro
// error to its HTTP status with its detail.
func TestAPIMucpService(t *testing.T) {
	b := startMucpOnNATS(t)
	gw := startAPI(t, b)

	resp, body := gw.do(t, http.MethodPost, "/legacy/Greeter.Hello", `{"name":"Ada"}`)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"message":"Hello Ada"}` {
		t.Fatalf("POST /legacy/Greeter.Hello: %d %s", resp.StatusCode, body)
	}

	cases := []struct {
		endpoint, body string
		wantStatus     int
		wantIn         string
	}{
		{"Greeter.Fail", `{"code":404,"detail":"no such greeting"}`, http.StatusNotFound, "no such greeting"},
		{"Greeter.Fail", `{"code":403,"detail":"not yours"}`, http.StatusForbidden, "not yours"},
		{"Greeter.Hello", `{"name":""}`, http.StatusBadRequest, "name must not be empty"},
		{"Greeter.Nope", `{}`, http.StatusNotFound, "Greeter.Hello"},
	}
	for _, tc := range cases {
		t.Run(tc.endpoint+"/"+tc.wantIn, func(t *testing.T) {
			resp, body := gw.do(t, http.MethodPost, "/legacy/"+tc.endpoint, tc.body)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantIn) {
				t.Errorf("POST /legacy/%s %s: want %d with %q, have %d %s", tc.endpoint, tc.body, tc.wantStatus, tc.wantIn, resp.StatusCode, body)
			}
		})
	}
}

// TestMCPMucpService: `micro mcp tools` lists the tool of a go-micro mucp
// endpoint (made from its registry record) and `micro mcp serve` calls it.
func TestMCPMucpService(t *testing.T) {
	b := startMucpOnNATS(t)
	const tool = "legacy_Greeter_Hello"

	res := micro(t, callEnv(b, t.TempDir()), "mcp", "tools", "-o", "json")
	if res.code != 0 || !strings.Contains(res.stdout, `"`+tool+`"`) {
		t.Fatalf("mcp tools: want %s: %s", tool, res)
	}

	environ := callEnv(b, t.TempDir(), "MICRO_MCP_AUTH_TOKEN=s3cret")
	p := start(t, environ, microBin, "mcp", "serve", "--address", "127.0.0.1:0")
	var url string
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, line := range strings.Split(p.Output(), "\n") {
			if _, rest, ok := strings.Cut(line, "listening on "); ok {
				url = strings.TrimSpace(rest)
				return nil
			}
		}
		return fmt.Errorf("micro mcp serve has not said where it listens: %q", p.Output())
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := sdk.NewClient(&sdk.Implementation{Name: "e2e"}, nil)
	session, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer("s3cret")}}, nil)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer session.Close()

	text := func(name string, args any) (string, bool) {
		t.Helper()
		r, err := session.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("call %s: %v", name, err)
		}
		var parts []string
		for _, c := range r.Content {
			if tc, ok := c.(*sdk.TextContent); ok {
				parts = append(parts, tc.Text)
			}
		}
		return strings.Join(parts, "\n"), r.IsError
	}
	out, isErr := text(tool, map[string]any{"name": "Ada"})
	var msg struct{ Message string }
	if isErr || json.Unmarshal([]byte(out), &msg) != nil || msg.Message != "Hello Ada" {
		t.Errorf("%s: want Hello Ada, have error=%v %s", tool, isErr, out)
	}
	out, isErr = text(tool, map[string]any{"name": ""})
	if !isErr || !strings.Contains(out, "name must not be empty") {
		t.Errorf("%s with no name: want the tool error with the detail, have error=%v %s", tool, isErr, out)
	}
}

// bearer sends a bearer token with every request.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}
