package mcp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/microtools/micro/pkg/mcp"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// BenchmarkMCPListTools measures tools/list through the SDK's client for
// 100 and 1,000 registered services (each a greeter, four tools apiece, all
// served by one gRPC server on 127.0.0.1). ns/op is one full tools/list
// (every page); the metrics are the tool count, the cold sync (every
// service described through reflection) and a warm one (nothing changed:
// descriptions reused).
func BenchmarkMCPListTools(b *testing.B) {
	addr := startGreeter(b)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			reg := memory.New()
			defer reg.Close()
			for i := range n {
				svc := &registry.Service{Name: fmt.Sprintf("svc%04d", i), Version: "1.0.0", Nodes: []*registry.Node{{ID: fmt.Sprintf("node%04d", i), Address: addr}}}
				if err := reg.Register(ctx, svc, registry.NoExpiry()); err != nil {
					b.Fatal(err)
				}
			}
			server, err := mcp.New(mcp.Options{Registry: reg, Caller: newTestCaller(b, reg), Timeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := server.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			cold := time.Since(start)
			start = time.Now()
			if err := server.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			warm := time.Since(start)

			st, ct := sdk.NewInMemoryTransports()
			ss, err := server.SDK().Connect(ctx, st, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer ss.Close()
			session, err := sdk.NewClient(&sdk.Implementation{Name: "bench"}, nil).Connect(ctx, ct, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer session.Close()
			count := 0
			b.ResetTimer()
			for b.Loop() {
				count = 0
				for _, err := range session.Tools(ctx, nil) {
					if err != nil {
						b.Fatal(err)
					}
					count++
				}
			}
			b.StopTimer()
			if want := 4*n + 3; count != want {
				b.Fatalf("want %d tools, have %d", want, count)
			}
			b.ReportMetric(float64(count), "tools")
			b.ReportMetric(float64(cold.Milliseconds()), "cold-sync-ms")
			b.ReportMetric(float64(warm.Microseconds())/1000, "warm-sync-ms")
		})
	}
}
