package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/microtools/micro/internal/testenv"
)

// TestWrkScript runs wrk with bench/api-wrk.lua, as bench/api.sh -l wrk
// does: it POSTs the body with Content-Type application/json and the
// headers asked for, and its summary is apiload's JSON, counting error
// answers.
func TestWrkScript(t *testing.T) {
	wrk := os.Getenv("WRK_BIN") // make test sets it
	if wrk == "" {
		var err error
		if wrk, err = exec.LookPath("wrk"); err != nil {
			if testenv.InCI() {
				t.Fatalf("wrk not found (CI): set WRK_BIN, or run bench/install-peers.sh wrk (make test does)")
			}
			t.Skip("wrk not found: set WRK_BIN, or run bench/install-peers.sh wrk (make test does)")
		}
	}
	var bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(body) != `{"name":"Ada"}` || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Connect-Protocol-Version") != "1" || r.Header.Get("X-Test") != "yes: really" {
			bad.Add(1)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"message":"Hello, Ada"}`))
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path       string
		wantErrors bool
	}{
		{"/greeter.v1.Greeter/Hello", false},
		{"/fail", true},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), wrk, "-t", "1", "-c", "2", "-d", "1s", "-s", "../api-wrk.lua", srv.URL+tc.path)
			cmd.Env = append(os.Environ(), `WRK_BODY={"name":"Ada"}`, "WRK_HEADERS=Connect-Protocol-Version: 1\n  X-Test:  yes: really  \n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			var summary struct {
				RPS      float64 `json:"rps"`
				Requests int64   `json:"requests"`
				Seconds  float64 `json:"seconds"`
				Errors   int64   `json:"errors"`
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
				t.Fatalf("last line of wrk's output is not the JSON summary: %v\n%s", err, out)
			}
			if summary.Requests == 0 || summary.RPS <= 0 || summary.Seconds <= 0 {
				t.Fatalf("summary %+v: want requests made over some time", summary)
			}
			if n := bad.Load(); n > 0 {
				t.Fatalf("%d requests lacked the body or a header", n)
			}
			if tc.wantErrors && summary.Errors != summary.Requests || !tc.wantErrors && summary.Errors != 0 {
				t.Fatalf("summary %+v: want errors %v", summary, tc.wantErrors)
			}
		})
	}
}
