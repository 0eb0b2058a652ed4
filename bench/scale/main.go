// Command scale measures how micro's costs grow with the size of the
// registry: for each backend (NATS, Consul, etcd) and each size (100, 1,000
// and 10,000 nodes, ten nodes a service) it registers the nodes directly
// through the registry library, concurrently and with a long TTL, then
// times `micro list services`, `micro get service`, a warm `micro call`,
// reads the resident memory of a `micro watch` that has seen every
// registration, and measures the GetService rate the backend sustains. It
// prints a Markdown section with the growth factor from each size to the
// next. bench/scale.sh builds the binaries and runs it; it is not part of
// make test.
//
//	go run ./bench/scale -micro BIN -greeter BIN [-sizes 100,1000,10000] [-backends nats,consul,etcd]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/natsserver"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/consul"
	"github.com/microtools/micro/pkg/registry/etcd"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

const (
	nodesPerService = 10
	registerWorkers = 32
	readWorkers     = 8
	readFor         = 3 * time.Second
	repetitions     = 3
	nodeTTL         = time.Hour
	// consulAgents is how many Consul client agents the nodes are
	// registered through (see consulVia).
	consulAgents = 10
)

// consulVia says how the Consul nodes are registered. A Consul agent
// serialises its registrations, and each costs it time in proportion to the
// services it holds already (it walks all of them to sync the one that
// changed, and builds the health events of its node from every check of
// the node): one agent holding thousands of nodes registers a few a second.
// Deployments run one agent a host, so the nodes are spread over client
// agents joined to the server agent, as hosts would be.
var consulVia = fmt.Sprintf("Consul nodes are registered through the registry library via %d Consul client agents joined to the server agent (node i through agent i mod %d: 1,000 nodes per agent at 10,000 nodes), as a deployment runs one agent a host; the greeter, micro's commands, the watch and the read rate use the server agent (`consul agent -dev`, state in memory). One agent holding every node registers them at a few a second (see docs/scaling.md).", consulAgents, consulAgents)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

type options struct {
	micro, greeter string
	sizes          []int
	backends       []string
	work           string
	budget         time.Duration
}

// figures are the measurements of one backend at one size.
type figures struct {
	size, services   int
	register         time.Duration // time to register the nodes added for this size
	list, get, call  time.Duration // medians of repetitions, whole process
	watchRSSKiB      int64
	readsPerSecond   float64
	listErr, callErr string
	partial          bool // the size is what the registration budget reached
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var o options
	var sizes, backends string
	fs.StringVar(&o.micro, "micro", "", "micro binary")
	fs.StringVar(&o.greeter, "greeter", "", "greeter binary (examples/greeter)")
	fs.StringVar(&sizes, "sizes", "100,1000,10000", "registered nodes per step, ascending")
	fs.StringVar(&backends, "backends", "nats,consul,etcd", "backends to measure")
	fs.DurationVar(&o.budget, "register-budget", 6*time.Minute, "the most time registering the nodes of one size may take; a backend slower than that stops there")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.micro == "" || o.greeter == "" {
		return errors.New("-micro and -greeter are required")
	}
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < nodesPerService {
			return fmt.Errorf("-sizes: %q is not a node count of at least %d", s, nodesPerService)
		}
		o.sizes = append(o.sizes, n)
	}
	o.backends = strings.Split(backends, ",")
	work, err := os.MkdirTemp("", "micro-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o.work = work

	results := map[string][]figures{}
	notes := map[string]string{}
	for _, b := range o.backends {
		fmt.Fprintf(stderr, "scale: %s\n", b)
		figs, err := measureBackend(ctx, o, b, stderr)
		results[b] = figs
		if err != nil {
			notes[b] = err.Error()
			fmt.Fprintf(stderr, "scale: %s: %v\n", b, err)
		}
	}
	report(stdout, o, results, notes)
	return nil
}

// backend is a running registry server and how to reach it.
type backend struct {
	env  []string // MICRO_* for the micro and greeter processes
	open func(ctx context.Context) (registry.Registry, error)
	// writers are the registries the nodes are registered through, node i
	// through writers[i%len(writers)]; none: the one open returns.
	writers func(ctx context.Context) ([]registry.Registry, error)
	stop    func()
}

func startBackend(ctx context.Context, name, dir string) (*backend, error) {
	switch name {
	case "nats":
		srv, err := natsserver.Start(ctx, natsserver.Options{Address: "127.0.0.1:0", DataDir: filepath.Join(dir, "nats")})
		if err != nil {
			return nil, err
		}
		url := srv.ClientURL()
		return &backend{
			env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + url},
			open: func(ctx context.Context) (registry.Registry, error) {
				return natsregistry.New(ctx, natsregistry.WithURL(url))
			},
			stop: srv.Shutdown,
		}, nil
	case "consul":
		agent, err := testenv.NewConsul(dir)
		if err != nil {
			return nil, err
		}
		clients := make([]*testenv.ConsulClient, consulAgents)
		var wg sync.WaitGroup
		errs := make([]error, consulAgents)
		for i := range clients {
			wg.Go(func() { clients[i], errs[i] = agent.NewClient(dir, fmt.Sprintf("host-%02d", i)) })
		}
		wg.Wait()
		stop := func() {
			for _, c := range clients {
				if c != nil {
					c.Stop()
				}
			}
			agent.Stop()
		}
		if err := errors.Join(errs...); err != nil {
			stop()
			return nil, err
		}
		addr := agent.Addr()
		return &backend{
			env: []string{"MICRO_REGISTRY=consul", "MICRO_REGISTRY_ADDRESS=" + addr},
			open: func(context.Context) (registry.Registry, error) {
				return consul.New(consul.Address(addr))
			},
			writers: func(context.Context) ([]registry.Registry, error) {
				var regs []registry.Registry
				for _, c := range clients {
					reg, err := consul.New(consul.Address(c.Addr()))
					if err != nil {
						return nil, err
					}
					regs = append(regs, reg)
				}
				return regs, nil
			},
			stop: stop,
		}, nil
	case "etcd":
		srv, err := testenv.NewEtcd(dir)
		if err != nil {
			return nil, err
		}
		addr := srv.Addr()
		return &backend{
			env: []string{"MICRO_REGISTRY=etcd", "MICRO_REGISTRY_ADDRESS=" + addr},
			open: func(ctx context.Context) (registry.Registry, error) {
				return etcd.New(ctx, etcd.WithEndpoints(addr))
			},
			stop: srv.Stop,
		}, nil
	}
	return nil, fmt.Errorf("unknown backend %q", name)
}

func measureBackend(ctx context.Context, o options, name string, stderr io.Writer) ([]figures, error) {
	dir := filepath.Join(o.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, err := startBackend(ctx, name, dir)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	reg, err := b.open(openCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	if c, ok := reg.(io.Closer); ok {
		defer c.Close()
	}
	writers := []registry.Registry{reg}
	if b.writers != nil {
		if writers, err = b.writers(ctx); err != nil {
			return nil, err
		}
	}
	home := filepath.Join(dir, "home")
	env := append(baseEnv(home), b.env...)

	greeter := exec.Command(o.greeter)
	greeter.Env = append(env[:len(env):len(env)], "MICRO_SERVER_ADDRESS=127.0.0.1:0")
	greeter.Stdout, greeter.Stderr = io.Discard, io.Discard
	if err := greeter.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = greeter.Process.Kill(); _ = greeter.Wait() }()

	watch := exec.Command(o.micro, "watch", "-o", "json")
	watch.Env = env
	watchOut, err := watch.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var events atomic.Int64
	if err := watch.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = watch.Process.Kill(); _ = watch.Wait() }()
	go func() {
		sc := bufio.NewScanner(watchOut)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			events.Add(1)
		}
	}()

	// The greeter is registered and a first call fills the descriptor cache.
	if err := waitFor(60*time.Second, func() error {
		_, err := runMicro(o.micro, env, "call", "greeter", "Greeter.Hello", `{"name":"scale"}`)
		return err
	}); err != nil {
		return nil, fmt.Errorf("greeter not callable: %w", err)
	}

	var out []figures
	registered := 0
	for _, size := range o.sizes {
		f := figures{size: size, services: size / nodesPerService}
		fmt.Fprintf(stderr, "scale: %s: registering %d nodes\n", name, size-registered)
		start := time.Now()
		regCtx, cancel := context.WithTimeout(ctx, o.budget)
		done, err := register(regCtx, writers, registered, size)
		timedOut := regCtx.Err() != nil
		cancel()
		if err != nil && !timedOut {
			return out, fmt.Errorf("at %d nodes: %w", size, err)
		}
		f.register = time.Since(start)
		var stopped error
		if timedOut {
			// Measure at the size reached, and stop there.
			stopped = fmt.Errorf("%d nodes not reached: registering them took longer than %s; %d of %d more nodes were registered in that time (%.0f a second), and the figures are at %d nodes",
				size, o.budget, done, size-registered, float64(done)/o.budget.Seconds(), registered+done)
			size = registered + done
			f.size, f.services, f.partial = size, (size+nodesPerService-1)/nodesPerService, true
		}
		registered = size
		// The watcher has seen every registration (each node is one
		// event), or the wait ends.
		_ = waitFor(60*time.Second, func() error {
			if n := events.Load(); n < int64(size) {
				return fmt.Errorf("watch saw %d events", n)
			}
			return nil
		})
		// Then it has finished the work they caused (the Consul watch
		// reads every service again after a change), or that wait ends.
		waitIdle(watch.Process.Pid, 2*time.Second, 180*time.Second)
		f.watchRSSKiB = rssKiB(watch.Process.Pid)

		fmt.Fprintf(stderr, "scale: %s: %d nodes: timing commands\n", name, size)
		f.list, f.listErr = median(func() error {
			out, err := runMicro(o.micro, env, "list", "services")
			if err == nil && strings.Count(out, "\n") < size/nodesPerService {
				return fmt.Errorf("list services printed %d lines, want at least %d", strings.Count(out, "\n"), size/nodesPerService)
			}
			return err
		})
		f.get, _ = median(func() error {
			_, err := runMicro(o.micro, env, "get", "service", serviceName(f.services-1))
			return err
		})
		f.call, f.callErr = median(func() error {
			_, err := runMicro(o.micro, env, "call", "greeter", "Greeter.Hello", `{"name":"scale"}`)
			return err
		})
		f.readsPerSecond = readRate(ctx, reg, f.services)
		fmt.Fprintf(stderr, "scale: %s: %+v\n", name, f)
		out = append(out, f)
		if stopped != nil {
			return out, stopped
		}
	}
	return out, nil
}

func serviceName(i int) string { return fmt.Sprintf("scale-%04d", i) }

// register adds nodes from..to-1, node i in service i/nodesPerService
// through regs[i%len(regs)], and returns how many it registered.
func register(ctx context.Context, regs []registry.Registry, from, to int) (int, error) {
	var done atomic.Int64
	next := atomic.Int64{}
	next.Store(int64(from))
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for range registerWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				svc := &registry.Service{
					Name:    serviceName(i / nodesPerService),
					Version: "1.0.0",
					Nodes: []*registry.Node{{
						ID:       fmt.Sprintf("scale-%06d", i),
						Address:  fmt.Sprintf("127.0.0.%d:%d", 1+i%200, 10000+i%50000),
						Metadata: map[string]string{"protocol": "grpc", "server": "grpc", "transport": "grpc"},
					}},
				}
				var err error
				for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
					rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					err = regs[i%len(regs)].Register(rctx, svc, registry.WithTTL(nodeTTL))
					cancel()
					if err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), firstErr
}

// readRate is the GetService calls per second that readWorkers sustain
// on random services for readFor.
func readRate(ctx context.Context, reg registry.Registry, services int) float64 {
	var reads atomic.Int64
	deadline := time.Now().Add(readFor)
	var wg sync.WaitGroup
	start := time.Now()
	for range readWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := reg.GetService(rctx, serviceName(rand.IntN(services)))
				cancel()
				if err == nil {
					reads.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(reads.Load()) / time.Since(start).Seconds()
}

// median runs fn repetitions times and returns the median wall time, and
// the last error.
func median(fn func() error) (time.Duration, string) {
	var times []time.Duration
	var lastErr string
	for range repetitions {
		start := time.Now()
		if err := fn(); err != nil {
			lastErr = err.Error()
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times[len(times)/2], lastErr
}

func runMicro(bin string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("micro %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// baseEnv is the environment of the processes: this one's, without MICRO_*
// and CONSUL_*, with a HOME and XDG directories of the run's own.
func baseEnv(home string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "MICRO_") || strings.HasPrefix(name, "CONSUL_") || strings.HasPrefix(name, "XDG_") || name == "HOME" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"MICRO_TIMEOUT=60s")
}

// rssKiB is VmRSS of pid from /proc, in KiB; 0 when it cannot be read.
func rssKiB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// waitIdle waits until process pid has used no CPU time for quiet, or
// within has passed.
func waitIdle(pid int, quiet, within time.Duration) {
	deadline := time.Now().Add(within)
	last := cpuTicks(pid)
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		now := cpuTicks(pid)
		if now == last {
			return
		}
		last = now
	}
}

// cpuTicks is the user and system time of pid from /proc, in clock ticks;
// -1 when it cannot be read.
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The fields after the command name, which is in brackets.
	_, rest, ok := strings.Cut(string(data), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return -1
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

func waitFor(within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func report(w io.Writer, o options, results map[string][]figures, notes map[string]string) {
	loadavg, _ := os.ReadFile("/proc/loadavg")
	load := strings.Join(strings.Fields(string(loadavg))[:min(3, len(strings.Fields(string(loadavg))))], " ")
	fmt.Fprintf(w, "## Scale: registry size against cost (bench/scale.sh)\n\n")
	fmt.Fprintf(w, "Written by bench/scale.sh on %s. Nodes registered through the registry library (%d at once, TTL %s), %d nodes a service; each command time is the median of %d runs of the built binary, start-up included; read rate is GetService on random services from %d goroutines for %s; watch RSS is VmRSS of a `micro watch -o json` that has received every registration, and the commands are timed once it has used no CPU for 2 s. Load average at the end: %s.\n\n",
		time.Now().UTC().Format("2006-01-02T15:04Z"), registerWorkers, nodeTTL, nodesPerService, repetitions, readWorkers, readFor, load)
	for _, b := range o.backends {
		figs := results[b]
		fmt.Fprintf(w, "### %s\n\n", b)
		if b == "consul" {
			fmt.Fprintf(w, "%s\n\n", consulVia)
		}
		if len(figs) == 0 {
			fmt.Fprintf(w, "Not measured: %s\n\n", notes[b])
			continue
		}
		fmt.Fprintln(w, "| nodes (services) | register | `list services` | `get service` | warm `call` | watch RSS | GetService/s |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		for i, f := range figs {
			growth := func(cur, prev float64) string {
				if i == 0 || prev == 0 {
					return ""
				}
				return fmt.Sprintf(" (×%.2f)", cur/prev)
			}
			var p figures
			if i > 0 {
				p = figs[i-1]
			}
			mark := ""
			if f.partial {
				mark = " (reached)"
			}
			fmt.Fprintf(w, "| %d (%d)%s | %s | %s%s | %s%s | %s%s | %.1f MiB%s | %.0f%s |\n",
				f.size, f.services, mark,
				f.register.Round(time.Millisecond),
				ms(f.list), growth(float64(f.list), float64(p.list)),
				ms(f.get), growth(float64(f.get), float64(p.get)),
				ms(f.call), growth(float64(f.call), float64(p.call)),
				float64(f.watchRSSKiB)/1024, growth(float64(f.watchRSSKiB), float64(p.watchRSSKiB)),
				f.readsPerSecond, growth(f.readsPerSecond, p.readsPerSecond))
		}
		fmt.Fprintln(w)
		for _, f := range figs {
			if f.listErr != "" || f.callErr != "" {
				fmt.Fprintf(w, "At %d nodes: %s %s\n\n", f.size, f.listErr, f.callErr)
			}
		}
		if n := notes[b]; n != "" {
			fmt.Fprintf(w, "Stopped early: %s. The factor of a row marked reached is from a step smaller than 10×.\n\n", n)
		}
	}
	fmt.Fprintln(w, "The factor in brackets is the growth from the size above (10× more nodes each step): about 10 means linear, about 100 quadratic, about 1 constant.")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
