package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestHandler runs the floor gateway against the example greeter on
// 127.0.0.1, served as bench/api.sh serves it (pkg/httpfast) and through
// net/http alone: a call answers the greeter's JSON, bad JSON is a 400 and
// a greeter that is gone a 502.
func TestHandler(t *testing.T) {
	for _, server := range []string{"fast", "net"} {
		t.Run(server, func(t *testing.T) {
			ln := testutil.Listen(t)
			srv := grpc.NewServer()
			greeterpb.RegisterGreeterServer(srv, handler.New())
			go func() { _ = srv.Serve(ln) }()
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			gwln := testutil.Listen(t)
			t.Cleanup(func() { gwln.Close() })
			go func() { _ = serve(gwln, newHandler(greeterpb.NewGreeterClient(conn)), server) }()
			url := "http://" + gwln.Addr().String() + "/greeter/Greeter.Hello"

			post := func(body string) (int, string) {
				t.Helper()
				resp, err := http.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				data, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(data)
			}
			if code, body := post(`{"name":"Ada"}`); code != http.StatusOK || !strings.Contains(body, `"message":"Hello Ada"`) {
				t.Errorf("call: %d %s", code, body)
			}
			if code, body := post(`{"name":`); code != http.StatusBadRequest {
				t.Errorf("bad JSON: %d %s, want 400", code, body)
			}
			srv.Stop()
			if code, body := post(`{"name":"Ada"}`); code != http.StatusBadGateway || !strings.Contains(body, "Unavailable") {
				t.Errorf("greeter gone: %d %s, want 502 naming Unavailable", code, body)
			}
		})
	}
}

// TestRunRefusesUnknownServer: -http takes fast or net.
func TestRunRefusesUnknownServer(t *testing.T) {
	err := run("127.0.0.1:0", "127.0.0.1:1", "h3")
	if err == nil || !strings.Contains(err.Error(), `-http "h3": want fast or net`) {
		t.Errorf("run with -http h3: %v", err)
	}
}
