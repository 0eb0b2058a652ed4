package api_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/api"
)

func TestPlainUnary(t *testing.T) {
	e := newEnv(t, api.Options{})
	for _, path := range []string{"/greeter/Greeter.Hello", "/greeter/Greeter/Hello", "/greeter/greeter.v1.Greeter.Hello"} {
		t.Run(path, func(t *testing.T) {
			resp := e.post(t, path, "application/json", []byte(`{"name":"Ada","tags":["x"]}`), "X-Echo: round-trip")
			body := wantStatus(t, resp, http.StatusOK)
			if strings.TrimSpace(body) != `{"message":"Hello Ada [x]"}` {
				t.Errorf("want the greeting as JSON, have %s", body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("want Content-Type application/json, have %q", ct)
			}
			if h := resp.Header.Get("X-Echo"); h != "round-trip" {
				t.Errorf("want the X-Echo header back from the service, have %q (headers %v)", h, resp.Header)
			}
			if h := resp.Header.Get("Trailer-X-Echo-Trailer"); h != "round-trip" {
				t.Errorf("want the service's trailer as Trailer-X-Echo-Trailer, have %q", h)
			}
		})
	}
}

func TestPlainServerStream(t *testing.T) {
	e := newEnv(t, api.Options{})
	t.Run("ndjson", func(t *testing.T) {
		resp := e.post(t, "/greeter/Greeter.Stream", "application/json", []byte(`{"name":"Ada","count":3}`))
		body := wantStatus(t, resp, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("want application/x-ndjson, have %q", ct)
		}
		lines := strings.Split(strings.TrimSpace(body), "\n")
		if len(lines) != 3 {
			t.Fatalf("want 3 lines, have %q", body)
		}
		for i, line := range lines {
			want := fmt.Sprintf(`{"message":"Hello Ada","sequence":%d}`, i+1)
			if line != want {
				t.Errorf("line %d: want %s, have %s", i+1, want, line)
			}
		}
		if s := resp.Trailer.Get("Grpc-Status"); s != "0" {
			t.Errorf("want trailer Grpc-Status 0, have %q", s)
		}
	})
	t.Run("sse", func(t *testing.T) {
		resp := e.post(t, "/greeter/Greeter/Stream", "application/json", []byte(`{"name":"Ada","count":2}`), "Accept: text/event-stream")
		body := wantStatus(t, resp, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("want text/event-stream, have %q", ct)
		}
		want := "event: message\nid: 1\ndata: {\"message\":\"Hello Ada\",\"sequence\":1}\n\n" +
			"event: message\nid: 2\ndata: {\"message\":\"Hello Ada\",\"sequence\":2}\n\n" +
			"event: end\ndata: {}\n\n"
		if body != want {
			t.Errorf("want\n%s\nhave\n%s", want, body)
		}
	})
	t.Run("error after start", func(t *testing.T) {
		// A deadline during the stream: the error is the last line.
		resp := e.post(t, "/greeter/Greeter.Stream", "application/json", []byte(`{"name":"Ada","count":3,"intervalMs":400}`), "Grpc-Timeout: 600m")
		body := wantStatus(t, resp, http.StatusOK)
		lines := strings.Split(strings.TrimSpace(body), "\n")
		if len(lines) != 3 || !strings.Contains(lines[2], `"status":"DEADLINE_EXCEEDED"`) {
			t.Errorf("want 2 greetings and a DEADLINE_EXCEEDED error line, have %q", body)
		}
	})
}

func TestErrors(t *testing.T) {
	e := newEnv(t, api.Options{MaxBodyBytes: 1024})
	tests := []struct {
		name, path, body string
		wantHTTP         int
		wantCode         int
		wantIn           string
	}{
		{"invalid argument", "/greeter/Greeter.Hello", `{}`, 400, 3, "name is required"},
		{"bad JSON", "/greeter/Greeter.Hello", `{"nme":"x"}`, 400, 3, "nme"},
		{"unknown service", "/nobody/Greeter.Hello", `{}`, 404, 5, `service "nobody" is not in the registry`},
		{"unknown method", "/greeter/Greeter.Nope", `{}`, 404, 5, "Nope"},
		{"client streaming", "/greeter/Greeter.Collect", `{}`, 501, 12, "micro stream greeter Greeter.Collect"},
		{"bidi streaming", "/greeter/Greeter/Chat", `{}`, 501, 12, "bidirectional"},
		{"body too large", "/greeter/Greeter.Hello", `{"name":"` + strings.Repeat("a", 2000) + `"}`, 413, 8, "limit of 1024 bytes"},
		{"no route", "/greeter", `{}`, 404, 5, "no route"},
		{"timeout", "/greeter/Greeter.Hello", `{"name":"Ada","delayMs":2000}`, 504, 4, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{"Grpc-Timeout: 1S"}
			if tt.name == "timeout" {
				headers = []string{"Grpc-Timeout: 100m"}
			}
			resp := e.post(t, tt.path, "application/json", []byte(tt.body), headers...)
			body := wantStatus(t, resp, tt.wantHTTP)
			var got struct {
				Code    int               `json:"code"`
				Message string            `json:"message"`
				Details []json.RawMessage `json:"details"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, body)
			}
			if got.Code != tt.wantCode || !strings.Contains(got.Message, tt.wantIn) {
				t.Errorf("want code %d and %q in the message, have %s", tt.wantCode, tt.wantIn, body)
			}
		})
	}
	t.Run("details decoded", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/greeter/Greeter.Hello", "application/json", []byte(`{}`)), 400)
		want := `"details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"name","description":"must not be empty"}]}]`
		if !strings.Contains(body, want) {
			t.Errorf("want the BadRequest detail decoded (%s), have %s", want, body)
		}
	})
}

func TestConnectUnary(t *testing.T) {
	e := newEnv(t, api.Options{})
	t.Run("json", func(t *testing.T) {
		resp := e.post(t, "/greeter.v1.Greeter/Hello", "application/json", []byte(`{"name":"Ada"}`), "Connect-Protocol-Version: 1", "X-Echo: c")
		body := wantStatus(t, resp, 200)
		if body != `{"message":"Hello Ada"}` || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("have %s (%s)", body, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("X-Echo") != "c" || resp.Header.Get("Trailer-X-Echo-Trailer") != "c" {
			t.Errorf("want the header and the Trailer- prefixed trailer back, have %v", resp.Header)
		}
	})
	t.Run("proto", func(t *testing.T) {
		req, _ := proto.Marshal(&greeterpb.HelloRequest{Name: "Ada"})
		resp := e.post(t, "/greeter.v1.Greeter/Hello", "application/proto", req)
		body := wantStatus(t, resp, 200)
		var out greeterpb.HelloResponse
		if err := proto.Unmarshal([]byte(body), &out); err != nil || out.GetMessage() != "Hello Ada" {
			t.Errorf("want a HelloResponse, have %v, %v", &out, err)
		}
	})
	t.Run("error", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/greeter.v1.Greeter/Hello", "application/json", []byte(`{}`)), 400)
		var got struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Type, Value string
				Debug       json.RawMessage
			} `json:"details"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Code != "invalid_argument" || got.Message != "name is required" || len(got.Details) != 1 || got.Details[0].Type != "google.rpc.BadRequest" {
			t.Errorf("want Connect's error with a BadRequest detail, have %s", body)
		}
		if _, err := base64.RawStdEncoding.DecodeString(got.Details[0].Value); err != nil {
			t.Errorf("detail value is not unpadded base64: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/greeter.v1.Greeter/Hello", "application/json", []byte(`{"name":"Ada","delayMs":3000}`), "Connect-Timeout-Ms: 100"), 504)
		if !strings.Contains(body, `"code":"deadline_exceeded"`) {
			t.Errorf("want deadline_exceeded, have %s", body)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/nobody.v1.Nobody/Hello", "application/json", []byte(`{}`)), 404)
		if !strings.Contains(body, `"code":"not_found"`) || !strings.Contains(body, "no registered service serves the gRPC service nobody.v1.Nobody") {
			t.Errorf("have %s", body)
		}
	})
	t.Run("micro-service header", func(t *testing.T) {
		wantStatus(t, e.post(t, "/greeter.v1.Greeter/Hello", "application/json", []byte(`{"name":"Ada"}`), "Micro-Service: greeter"), 200)
		body := wantStatus(t, e.post(t, "/greeter.v1.Greeter/Hello", "application/json", []byte(`{"name":"Ada"}`), "Micro-Service: other"), 404)
		if !strings.Contains(body, `service \"other\" is not in the registry`) {
			t.Errorf("have %s", body)
		}
	})
}

func TestConnectServerStream(t *testing.T) {
	e := newEnv(t, api.Options{})
	for _, codec := range []string{"json", "proto"} {
		t.Run(codec, func(t *testing.T) {
			var reqBody []byte
			if codec == "json" {
				reqBody = []byte(`{"name":"Ada","count":2}`)
			} else {
				reqBody, _ = proto.Marshal(&greeterpb.StreamRequest{Name: "Ada", Count: 2})
			}
			resp := e.post(t, "/greeter.v1.Greeter/Stream", "application/connect+"+codec, envelope(0, reqBody))
			body := wantStatus(t, resp, 200)
			fs := frames(t, []byte(body))
			if len(fs) != 3 || fs[2].flags != 2 {
				t.Fatalf("want 2 messages and the end of the stream, have %d frames", len(fs))
			}
			for i, f := range fs[:2] {
				var msg greeterpb.HelloResponse
				var err error
				if codec == "json" {
					err = protojson.Unmarshal(f.payload, &msg)
				} else {
					err = proto.Unmarshal(f.payload, &msg)
				}
				if err != nil || msg.GetSequence() != int32(i+1) {
					t.Errorf("frame %d: %v, %v", i, &msg, err)
				}
			}
			if string(fs[2].payload) != `{}` {
				t.Errorf("want an empty end of stream, have %s", fs[2].payload)
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		body := wantStatus(t, e.post(t, "/greeter.v1.Greeter/Stream", "application/connect+json", envelope(0, []byte(`{"count":2}`))), 200)
		fs := frames(t, []byte(body))
		if len(fs) != 1 || fs[0].flags != 2 || !strings.Contains(string(fs[0].payload), `"code":"invalid_argument"`) {
			t.Errorf("want only the end of the stream with invalid_argument, have %q", body)
		}
	})
}

// grpcWebTrailers parses a gRPC-Web trailers frame.
func grpcWebTrailers(t *testing.T, payload []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	scanner := bufio.NewScanner(strings.NewReader(string(payload)))
	for scanner.Scan() {
		k, v, ok := strings.Cut(strings.TrimRight(scanner.Text(), "\r"), ":")
		if !ok {
			t.Fatalf("trailer line %q", scanner.Text())
		}
		out[k] = strings.TrimSpace(v)
	}
	return out
}

func TestGRPCWeb(t *testing.T) {
	e := newEnv(t, api.Options{})
	hello, _ := proto.Marshal(&greeterpb.HelloRequest{Name: "Ada"})
	stream, _ := proto.Marshal(&greeterpb.StreamRequest{Name: "Ada", Count: 2})
	tests := []struct {
		name, path, contentType string
		body                    []byte
		wantMessages            int
		wantStatus              string
	}{
		{"proto unary", "/greeter.v1.Greeter/Hello", "application/grpc-web+proto", envelope(0, hello), 1, "0"},
		{"plain unary", "/greeter.v1.Greeter/Hello", "application/grpc-web", envelope(0, hello), 1, "0"},
		{"json unary", "/greeter.v1.Greeter/Hello", "application/grpc-web+json", envelope(0, []byte(`{"name":"Ada"}`)), 1, "0"},
		{"text unary", "/greeter.v1.Greeter/Hello", "application/grpc-web-text", []byte(base64.StdEncoding.EncodeToString(envelope(0, hello))), 1, "0"},
		{"proto stream", "/greeter.v1.Greeter/Stream", "application/grpc-web+proto", envelope(0, stream), 2, "0"},
		{"text stream", "/greeter.v1.Greeter/Stream", "application/grpc-web-text+proto", []byte(base64.StdEncoding.EncodeToString(envelope(0, stream))), 2, "0"},
		{"error", "/greeter.v1.Greeter/Hello", "application/grpc-web+proto", envelope(0, nil), 0, "3"},
		{"client stream", "/greeter.v1.Greeter/Collect", "application/grpc-web+proto", envelope(0, nil), 0, "12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.post(t, tt.path, tt.contentType, tt.body, "X-Grpc-Web: 1", "X-Echo: w")
			body := []byte(wantStatus(t, resp, 200))
			if strings.HasPrefix(tt.contentType, "application/grpc-web-text") {
				// Each frame is base64 on its own, padded.
				var decoded []byte
				text := string(body)
				for len(text) > 0 {
					end := len(text)
					if i := strings.Index(text, "="); i >= 0 {
						end = i
						for end < len(text) && text[end] == '=' {
							end++
						}
					}
					part, err := base64.StdEncoding.DecodeString(text[:end])
					if err != nil {
						t.Fatalf("text body: %v: %q", err, body)
					}
					decoded = append(decoded, part...)
					text = text[end:]
				}
				body = decoded
			}
			fs := frames(t, body)
			if len(fs) != tt.wantMessages+1 || fs[len(fs)-1].flags != 0x80 {
				t.Fatalf("want %d messages and a trailers frame, have %d frames: %q", tt.wantMessages, len(fs), body)
			}
			for _, f := range fs[:tt.wantMessages] {
				var msg greeterpb.HelloResponse
				var err error
				if strings.HasSuffix(tt.contentType, "+json") {
					err = protojson.Unmarshal(f.payload, &msg)
				} else {
					err = proto.Unmarshal(f.payload, &msg)
				}
				if err != nil || msg.GetMessage() != "Hello Ada" {
					t.Errorf("message: %v, %v", &msg, err)
				}
			}
			trailers := grpcWebTrailers(t, fs[len(fs)-1].payload)
			if trailers["grpc-status"] != tt.wantStatus {
				t.Errorf("want grpc-status %s, have %v", tt.wantStatus, trailers)
			}
			if tt.name == "proto unary" {
				if resp.Header.Get("X-Echo") != "w" || trailers["x-echo-trailer"] != "w" {
					t.Errorf("want the header and the trailer back, have %v and %v", resp.Header, trailers)
				}
			}
			if tt.name == "error" && trailers["grpc-status-details-bin"] == "" {
				t.Errorf("want the status details in the trailers, have %v", trailers)
			}
		})
	}
}

func TestAuthToken(t *testing.T) {
	e := newEnv(t, api.Options{AuthToken: "s3cret"})
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"none", nil, 401},
		{"wrong", []string{"Authorization: Bearer nope"}, 401},
		{"basic", []string{"Authorization: Basic czNjcmV0"}, 401},
		{"right", []string{"Authorization: Bearer s3cret"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.post(t, "/greeter/Greeter.Hello", "application/json", []byte(`{"name":"Ada"}`), tt.header...)
			body := wantStatus(t, resp, tt.want)
			if tt.want == 401 && (resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body, `"code":16`)) {
				t.Errorf("want WWW-Authenticate and code 16, have %v %s", resp.Header, body)
			}
		})
	}
	wantStatus(t, e.get(t, "/healthz"), 200)
	wantStatus(t, e.get(t, "/"), 401)
	wantStatus(t, e.get(t, "/metrics"), 401)
}

func TestCORS(t *testing.T) {
	e := newEnv(t, api.Options{CORSOrigins: []string{"http://app.example"}})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.server.URL+"/greeter/Greeter.Hello", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-echo")
		resp, err := e.server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := preflight("http://app.example")
	if ok.StatusCode != 204 || ok.Header.Get("Access-Control-Allow-Origin") != "http://app.example" || !strings.Contains(ok.Header.Get("Access-Control-Allow-Headers"), "x-echo") {
		t.Errorf("listed origin: want 204 with CORS headers, have %d %v", ok.StatusCode, ok.Header)
	}
	other := preflight("http://evil.example")
	if other.StatusCode != 403 || other.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: want 403 without CORS headers, have %d %v", other.StatusCode, other.Header)
	}
	resp := e.post(t, "/greeter/Greeter.Hello", "application/json", []byte(`{"name":"Ada"}`), "Origin: http://app.example")
	wantStatus(t, resp, 200)
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Errorf("want Access-Control-Allow-Origin on the call, have %v", resp.Header)
	}
	// A page of another origin is refused before the call is made, even
	// with a "simple" request that a browser sends without a preflight.
	for _, contentType := range []string{"application/json", "text/plain"} {
		resp = e.post(t, "/greeter/Greeter.Hello", contentType, []byte(`{"name":"Ada"}`), "Origin: http://evil.example")
		wantStatus(t, resp, 403)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("other origin: want no Access-Control-Allow-Origin, have %v", resp.Header)
		}
	}
	// The gateway's own pages (the console) send their own origin.
	resp = e.post(t, "/greeter/Greeter.Hello", "application/json", []byte(`{"name":"Ada"}`), "Origin: "+e.server.URL)
	wantStatus(t, resp, 200)
}

func TestHeaderAllowList(t *testing.T) {
	e := newEnv(t, api.Options{Headers: []string{"X-Tenant"}})
	resp := e.post(t, "/greeter/Greeter.Hello", "application/json", []byte(`{"name":"Ada"}`), "X-Echo: no")
	wantStatus(t, resp, 200)
	if resp.Header.Get("X-Echo") != "" {
		t.Errorf("X-Echo is not in the allow list: want it dropped, have %v", resp.Header)
	}
}

func TestDocuments(t *testing.T) {
	e := newEnv(t, api.Options{})
	t.Run("index", func(t *testing.T) {
		var index api.Index
		if err := json.Unmarshal([]byte(wantStatus(t, e.get(t, "/"), 200)), &index); err != nil {
			t.Fatal(err)
		}
		if len(index.Services) != 1 || index.Services[0].Name != "greeter" || len(index.Services[0].Nodes) != 1 || index.Services[0].Healthy != 1 {
			t.Fatalf("want greeter with one healthy node, have %+v", index)
		}
		if strings.Join(index.Services[0].Endpoints, ",") != "Greeter.Chat,Greeter.Collect,Greeter.Hello,Greeter.Stream" {
			t.Errorf("endpoints: %v", index.Services[0].Endpoints)
		}
	})
	t.Run("service", func(t *testing.T) {
		var doc api.ServiceDoc
		if err := json.Unmarshal([]byte(wantStatus(t, e.get(t, "/greeter"), 200)), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Source != "descriptors" || len(doc.Endpoints) != 4 {
			t.Fatalf("want 4 endpoints from descriptors, have %+v", doc)
		}
		hello := doc.Endpoints[2]
		if hello.Name != "Greeter.Hello" || hello.Routes["json"] != "/greeter/Greeter.Hello" || hello.Routes["connect"] != "/greeter.v1.Greeter/Hello" {
			t.Errorf("Hello: %+v", hello)
		}
		def, _ := json.Marshal(doc.Defs["greeter.v1.HelloRequest"])
		for _, want := range []string{`"delayMs":{"format":"int64","type":["integer","string"]}`, `"sentAt":{"format":"date-time","type":"string"}`, `"enum":["MOOD_UNSPECIFIED","MOOD_HAPPY","MOOD_GRUMPY"]`} {
			if !strings.Contains(string(def), want) {
				t.Errorf("HelloRequest schema: want %s in %s", want, def)
			}
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		wantStatus(t, e.get(t, "/nobody"), 404)
	})
	t.Run("metrics", func(t *testing.T) {
		wantStatus(t, e.post(t, "/greeter/Greeter.Hello", "application/json", []byte(`{"name":"Ada"}`)), 200)
		wantStatus(t, e.post(t, "/greeter/Greeter.Hello", "application/json", []byte(`{}`)), 400)
		body := wantStatus(t, e.get(t, "/metrics"), 200)
		for _, want := range []string{
			`micro_api_requests_total{code="OK",endpoint="Greeter.Hello",protocol="json",service="greeter"} 1`,
			`micro_api_errors_total{code="InvalidArgument",endpoint="Greeter.Hello",protocol="json",service="greeter"} 1`,
			`micro_api_request_duration_seconds_count{code="OK",endpoint="Greeter.Hello",protocol="json",service="greeter"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics: want %s", want)
			}
		}
	})
}

func TestLiveRegistry(t *testing.T) {
	e := newEnv(t, api.Options{})
	wantStatus(t, e.post(t, "/later/Greeter.Hello", "application/json", []byte(`{"name":"Ada"}`)), 404)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.server.URL+"/events", nil)
	resp, err := e.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		scanner := bufio.NewScanner(resp.Body)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		for scanner.Scan() {
			if line := scanner.Text(); strings.HasPrefix(line, "event: ") {
				events <- strings.TrimPrefix(line, "event: ")
			}
		}
		close(events)
	}()
	if ev := <-events; ev != "services" {
		t.Fatalf("want the services event first, have %q", ev)
	}

	startGreeter(t, e.reg, "later")
	select {
	case ev := <-events:
		if ev != "create" && ev != "update" {
			t.Errorf("want a create event, have %q", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no registry event on /events after a service registered")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		resp := e.post(t, "/later/Greeter.Hello", "application/json", []byte(`{"name":"Ada"}`))
		if body := readAll(t, resp); resp.StatusCode != 200 {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		return nil
	})
}

// TestConnectRouteFollowsRegistry: the service found to serve a Connect
// route is kept between requests, and dropped when the registry changes.
func TestConnectRouteFollowsRegistry(t *testing.T) {
	e := newEnv(t, api.Options{})
	hello := func(headers ...string) (int, string) {
		resp := e.post(t, "/greeter.v1.Greeter/Hello", "application/json", []byte(`{"name":"Ada"}`), headers...)
		return resp.StatusCode, readAll(t, resp)
	}
	for range 3 {
		if code, body := hello(); code != 200 {
			t.Fatalf("one greeter: want 200, have %d %s", code, body)
		}
	}
	startGreeter(t, e.reg, "other")
	testutil.Eventually(t, 10*time.Second, func() error {
		if code, body := hello(); code != 400 || !strings.Contains(body, "name one in the Micro-Service header") {
			return fmt.Errorf("two greeters: want 400 naming Micro-Service, have %d %s", code, body)
		}
		return nil
	})
	if code, body := hello("Micro-Service: other"); code != 200 {
		t.Errorf("Micro-Service: other: want 200, have %d %s", code, body)
	}
}

func TestH2C(t *testing.T) {
	e := newEnv(t, api.Options{})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: e.gateway, Protocols: &protocols}
	ln := testutil.Listen(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	resp, err := client.Post("http://"+ln.Addr().String()+"/greeter/Greeter.Hello", "application/json", strings.NewReader(`{"name":"Ada"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("want HTTP/2 200, have %s %d", resp.Proto, resp.StatusCode)
	}
}
