package figures

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
	"github.com/microtools/micro/pkg/service"
)

// countingRegistry counts the round trips a client makes to the registry.
type countingRegistry struct {
	registry.Registry
	gets, lists, watches atomic.Int64
}

func (r *countingRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	r.gets.Add(1)
	return r.Registry.GetService(ctx, name, opts...)
}

func (r *countingRegistry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	r.lists.Add(1)
	return r.Registry.ListServices(ctx)
}

func (r *countingRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	r.watches.Add(1)
	return r.Registry.Watch(ctx, opts...)
}

func (r *countingRegistry) total() int64 { return r.gets.Load() + r.lists.Load() + r.watches.Load() }

func natsRegistry(b *testing.B, url string) *natsregistry.Registry {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := natsregistry.New(ctx, natsregistry.WithURL(url))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// BenchmarkRegistryRoundTrips calls a greeter through a client.Client whose
// registry counts its round trips: cold-registry-calls is what the first
// call cost, registry-calls/op what each later call costs (0 when the
// selector's watch-fed cache does its job).
func BenchmarkRegistryRoundTrips(b *testing.B) {
	srv := testenv.NATS(b)
	svc, err := service.New(
		service.Name("greeter"),
		service.Address("127.0.0.1:0"),
		service.Registry(natsRegistry(b, srv.URL())),
		service.Handle(func(s grpc.ServiceRegistrar) { greeterpb.RegisterGreeterServer(s, handler.New()) }),
	)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Stop(context.Background()) })

	counting := &countingRegistry{Registry: natsRegistry(b, srv.URL())}
	cl, err := client.New(client.Options{Registry: counting})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	hello := func() {
		if err := cl.Call(ctx, "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "Ada"}), nil); err != nil {
			b.Fatal(err)
		}
	}
	hello()
	cold := counting.total()
	before := counting.total()
	for b.Loop() {
		hello()
	}
	b.ReportMetric(float64(counting.total()-before)/float64(b.N), "registry-calls/op")
	b.ReportMetric(float64(cold), "cold-registry-calls")
}

// greeterTTL and greeterInterval are the registration TTL and heartbeat of
// the greeters BenchmarkKillToLastSelection kills.
const (
	greeterTTL      = 3 * time.Second
	greeterInterval = time.Second
)

// BenchmarkKillToLastSelection runs three greeter processes under a load of
// 8 callers, kills one with SIGKILL, and measures the time from the kill
// to the last time the selector chose the dead node. kill-to-last-ms is
// that time; ttl-ratio divides it by the registration TTL, the time a
// client without ejection would keep choosing it. Each iteration takes a
// few seconds: run it with -benchtime 3x.
func BenchmarkKillToLastSelection(b *testing.B) {
	greeterBin := buildGreeter(b)
	var total time.Duration
	var failed int64
	for b.Loop() {
		d, f := killOnce(b, greeterBin)
		total += d
		failed += f
	}
	mean := total / time.Duration(b.N)
	b.ReportMetric(float64(mean.Milliseconds()), "kill-to-last-ms")
	b.ReportMetric(float64(mean)/float64(greeterTTL), "ttl-ratio")
	b.ReportMetric(float64(failed)/float64(b.N), "failed-calls/op")
}

func killOnce(b *testing.B, greeterBin string) (time.Duration, int64) {
	srv := testenv.NATS(b)
	defer srv.Stop()
	reg := natsRegistry(b, srv.URL())
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}()
	for range 3 {
		cmd := exec.Command(greeterBin)
		cmd.Env = append(os.Environ(),
			"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS="+srv.URL(), "MICRO_SERVER_ADDRESS=127.0.0.1:0",
			"MICRO_REGISTER_TTL="+greeterTTL.String(), "MICRO_REGISTER_INTERVAL="+greeterInterval.String())
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var nodes []*registry.Node
	for ctx.Err() == nil {
		services, _ := reg.GetService(ctx, "greeter")
		nodes = nodes[:0]
		for _, s := range services {
			nodes = append(nodes, s.Nodes...)
		}
		if len(nodes) == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(nodes) != 3 {
		b.Fatalf("the greeters did not register: %d nodes", len(nodes))
	}

	cl, err := client.New(client.Options{Registry: reg, Retries: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	// Which node the killed process was is found afterwards, as the one
	// whose address no longer answers.
	var (
		mu       sync.Mutex
		lastSeen = map[string]time.Time{} // node address -> last selection
		failed   atomic.Int64
		wg       sync.WaitGroup
		killed   time.Time
	)
	killedAt := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return killed
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1_000_000 && loadCtx.Err() == nil; i++ {
				trace := &call.ClientTrace{NodeSelected: func(n *registry.Node, _ string) {
					mu.Lock()
					lastSeen[n.Address] = time.Now()
					mu.Unlock()
				}}
				callCtx, cancel := context.WithTimeout(loadCtx, 5*time.Second)
				err := cl.Call(callCtx, "greeter", "Greeter.Hello", call.Messages(&greeterpb.HelloRequest{Name: "x"}), nil, call.WithTrace(trace))
				cancel()
				if err != nil && loadCtx.Err() == nil {
					if failed.Add(1) <= 3 {
						b.Logf("call failed %s after the kill: %v", time.Since(killedAt()), err)
					}
				}
			}
		}()
	}
	time.Sleep(time.Second)
	mu.Lock()
	before := map[string]time.Time{}
	for addr, at := range lastSeen {
		before[addr] = at
	}
	mu.Unlock()
	victim := procs[0]
	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		b.Fatal(err)
	}
	_ = victim.Wait()
	procs = procs[1:]
	// Run past the TTL and a margin, then find the node nobody answers on.
	time.Sleep(greeterTTL + 3*time.Second)
	stopLoad()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var victimAddr string
	for addr := range before {
		if !answers(addr) {
			victimAddr = addr
		}
	}
	if victimAddr == "" {
		b.Fatal("could not tell which node was killed")
	}
	last := lastSeen[victimAddr]
	if last.Before(killed) {
		return 0, failed.Load()
	}
	return last.Sub(killed), failed.Load()
}

// answers tells whether something listens at addr.
func answers(addr string) bool {
	conn, err := (&net.Dialer{Timeout: 500 * time.Millisecond}).Dial("tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func buildGreeter(b *testing.B) string {
	b.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(b.TempDir(), "greeter")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/greeter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build greeter: %v\n%s", err, out)
	}
	return bin
}
