package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRun(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || string(body) != `{"name":"Ada"}` || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Test") != "yes":
			http.Error(w, "bad request", http.StatusBadRequest)
		case r.URL.Path == "/chunked":
			w.Header().Set("Trailer", "Grpc-Status")
			_, _ = w.Write([]byte("part one\n"))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("part two\n"))
			w.Header().Set("Grpc-Status", "0")
		case r.URL.Path == "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("ok\n"))
		case r.URL.Path == "/fail":
			http.Error(w, "no", http.StatusInternalServerError)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		client, path string
		wantErrors   float64
	}{
		{"raw", "/ok", 0},
		{"raw", "/chunked", 0},
		{"raw", "/close", 0},
		{"raw", "/fail", 50},
		{"net/http", "/ok", 0},
		{"net/http", "/fail", 50},
	} {
		t.Run(tc.client+tc.path, func(t *testing.T) {
			before := calls.Load()
			var out strings.Builder
			err := run([]string{"-client", tc.client, "-url", srv.URL + tc.path, "-d", `{"name":"Ada"}`, "-H", "X-Test: yes", "-n", "50", "-c", "4"}, &out)
			if (err != nil) != (tc.wantErrors > 0) {
				t.Fatalf("run: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			if got["errors"] != tc.wantErrors || got["requests"] != float64(50) || got["rps"].(float64) <= 0 {
				t.Errorf("want 50 requests and %v errors, have %s", tc.wantErrors, out.String())
			}
			if n := calls.Load() - before; n != 50 {
				t.Errorf("the server saw %d requests, want 50", n)
			}
		})
	}
}
