package api_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/call"
)

// gatewayRoutes are the unary calls BenchmarkGateway makes: the plain JSON
// route and Connect with JSON.
var gatewayRoutes = []struct {
	name, path string
	headers    map[string]string
}{
	{"plain", "/greeter/Greeter.Hello", nil},
	{"connect", "/greeter.v1.Greeter/Hello", map[string]string{"Connect-Protocol-Version": "1"}},
}

// BenchmarkGateway measures one unary call to a real greeter (gRPC on
// 127.0.0.1) per operation, 16 at a time:
//
//   - plain, connect: through the gateway over HTTP/1.1 on 127.0.0.1, as
//     bench/api.sh calls it (the HTTP client's cost is in the figures too);
//   - handler/plain, handler/connect: the gateway's ServeHTTP called
//     directly, without an HTTP connection;
//   - direct: the same call through the call client the gateway uses,
//     with a prebuilt request, as micro bench makes it.
//
// handler minus direct is what the gateway itself costs a call (ns/op and
// allocs/op): routing, JSON both ways, metadata, metrics, the access log.
// cpu-ns/op is the CPU time of the whole test process (client, gateway and
// greeter) per call: on a shared machine it moves less with the load than
// ns/op, which is wall-clock.
func BenchmarkGateway(b *testing.B) {
	for _, bc := range gatewayRoutes {
		b.Run(bc.name, func(b *testing.B) {
			e := newBenchEnv(b)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			body := []byte(`{"name":"Ada"}`)
			b.SetParallelism(8)
			b.ResetTimer()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, e.server.URL+bc.path, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					for k, v := range bc.headers {
						req.Header.Set(k, v)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("HTTP %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
	for _, bc := range gatewayRoutes {
		b.Run("handler/"+bc.name, func(b *testing.B) {
			e := newBenchEnv(b)
			body := []byte(`{"name":"Ada"}`)
			b.SetParallelism(8)
			b.ResetTimer()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, bc.path, bytes.NewReader(body))
					req.RemoteAddr = "127.0.0.1:40000"
					req.Header.Set("Content-Type", "application/json")
					for k, v := range bc.headers {
						req.Header.Set(k, v)
					}
					rec := httptest.NewRecorder()
					e.gateway.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Errorf("HTTP %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
	b.Run("direct", func(b *testing.B) {
		e := newBenchEnv(b)
		ctx := context.Background()
		req := &greeterpb.HelloRequest{Name: "Ada"}
		b.SetParallelism(8)
		b.ResetTimer()
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var got bool
				err := e.client.Call(ctx, "greeter", "greeter.v1.Greeter.Hello", call.Messages(req), call.HandlerFuncs{
					Response: func(proto.Message) error { got = true; return nil },
				}, call.WithHeaders(metadata.MD{}))
				if err != nil || !got {
					b.Errorf("call: %v (response: %v)", err, got)
					return
				}
			}
		})
	})
}

// reportCPU starts measuring the process's CPU time; the function it
// returns reports it per operation as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func newBenchEnv(b *testing.B) *env {
	b.Helper()
	// As micro api runs by default: with its access log in text.
	return newEnvTB(b, api.Options{Logger: benchAccessLog(io.Discard)})
}

// benchAccessLog is the access log as micro api has it, in text.
func benchAccessLog(w io.Writer) *slog.Logger { return api.NewAccessLog(w, false) }
