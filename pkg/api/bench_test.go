package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/microtools/micro/pkg/api"
)

// BenchmarkGateway measures one unary call through the gateway per
// operation, 16 at a time, over HTTP/1.1 to a real greeter: the plain JSON
// route and Connect with JSON.
func BenchmarkGateway(b *testing.B) {
	for _, bc := range []struct {
		name, path string
		headers    map[string]string
	}{
		{"plain", "/greeter/Greeter.Hello", nil},
		{"connect", "/greeter.v1.Greeter/Hello", map[string]string{"Connect-Protocol-Version": "1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newBenchEnv(b)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			body := []byte(`{"name":"Ada"}`)
			b.SetParallelism(8)
			b.ResetTimer()
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
}

func newBenchEnv(b *testing.B) *env {
	b.Helper()
	// As micro api runs by default: with its access log.
	return newEnvTB(b, api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}
