package service_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/service"
)

const testServiceName = "grpc.testing.TestService"

// testServer answers UnaryCall at once, or, when blocking, signals entered
// and waits for release.
type testServer struct {
	testgrpc.UnimplementedTestServiceServer
	blocking bool
	entered  chan struct{}
	release  chan struct{}
}

func newTestServer(blocking bool) *testServer {
	return &testServer{blocking: blocking, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (s *testServer) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s.blocking {
		s.entered <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return &testgrpc.SimpleResponse{Username: "done"}, nil
}

// hookRegistry wraps a registry to inject failures and observe calls.
type hookRegistry struct {
	registry.Registry
	beforeRegister  func() error // a non-nil error fails the Register call
	afterDeregister func()
}

func (r *hookRegistry) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	if r.beforeRegister != nil {
		if err := r.beforeRegister(); err != nil {
			return err
		}
	}
	return r.Registry.Register(ctx, svc, opts...)
}

func (r *hookRegistry) Deregister(ctx context.Context, svc *registry.Service) error {
	err := r.Registry.Deregister(ctx, svc)
	if r.afterDeregister != nil {
		r.afterDeregister()
	}
	return err
}

func newMemoryRegistry(t *testing.T) *memory.Registry {
	t.Helper()
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	return reg
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newService builds a service named "test" serving srv on 127.0.0.1:0;
// opts come last and override the defaults here.
func newService(t *testing.T, reg registry.Registry, srv testgrpc.TestServiceServer, opts ...service.Option) *service.Service {
	t.Helper()
	base := []service.Option{
		service.Name("test"),
		service.Registry(reg),
		service.Address("127.0.0.1:0"),
		service.Handle(func(s grpc.ServiceRegistrar) { testgrpc.RegisterTestServiceServer(s, srv) }),
	}
	svc, err := service.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	return svc
}

// startService starts svc and stops it when the test ends.
func startService(t *testing.T, svc *service.Service) {
	t.Helper()
	if err := svc.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

func dial(t *testing.T, address string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", address, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func registeredNodes(t *testing.T, reg registry.Registry, name string) []*registry.Node {
	t.Helper()
	records, err := reg.GetService(testContext(t), name)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("GetService %s: %v", name, err)
	}
	var nodes []*registry.Node
	for _, rec := range records {
		nodes = append(nodes, rec.Nodes...)
	}
	return nodes
}

func TestServiceRegistersWithEndpoints(t *testing.T) {
	reg := newMemoryRegistry(t)
	svc := newService(t, reg, newTestServer(false),
		service.Version("1.2.3"),
		service.Metadata(map[string]string{"zone": "eu-1", "server": "not-micro"}),
	)
	if svc.Address() != "" || svc.Record() != nil {
		t.Fatalf("want no address or record before Start, have %q %v", svc.Address(), svc.Record())
	}
	startService(t, svc)

	if !regexp.MustCompile(`^test-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(svc.ID()) {
		t.Errorf("node id %q is not test-<uuid>", svc.ID())
	}
	if have, want := svc.Address(), svc.ListenAddress(); have != want || !strings.HasPrefix(have, "127.0.0.1:") {
		t.Errorf("want advertised address %q (the 127.0.0.1 listener), have %q", want, have)
	}

	records, err := reg.GetService(testContext(t), "test")
	if err != nil {
		t.Fatalf("GetService: %v", err)
	}
	if len(records) != 1 || len(records[0].Nodes) != 1 {
		t.Fatalf("want one record with one node, have %+v", records)
	}
	rec, node := records[0], records[0].Nodes[0]
	if rec.Version != "1.2.3" {
		t.Errorf("want version 1.2.3, have %q", rec.Version)
	}
	if node.ID != svc.ID() || node.Address != svc.Address() {
		t.Errorf("want node %s at %s, have %s at %s", svc.ID(), svc.Address(), node.ID, node.Address)
	}
	for key, want := range map[string]string{"transport": "grpc", "protocol": "grpc", "server": "micro", "registry": "memory", "zone": "eu-1"} {
		if have := node.Metadata[key]; have != want {
			t.Errorf("node metadata %s: want %q, have %q", key, want, have)
		}
	}

	var names []string
	for _, ep := range rec.Endpoints {
		names = append(names, ep.Name)
		if strings.HasPrefix(ep.Metadata[service.EndpointService], "grpc.health") || strings.HasPrefix(ep.Metadata[service.EndpointService], "grpc.reflection") {
			t.Errorf("endpoint %s of %s should be skipped", ep.Name, ep.Metadata[service.EndpointService])
		}
	}
	i := slices.Index(names, "TestService.UnaryCall")
	if i < 0 {
		t.Fatalf("want endpoint TestService.UnaryCall, have %q", names)
	}
	ep := rec.Endpoints[i]
	if ep.Request == nil || ep.Response == nil || ep.Request.Name != "grpc.testing.SimpleRequest" || ep.Response.Name != "grpc.testing.SimpleResponse" {
		t.Errorf("want SimpleRequest -> SimpleResponse, have %+v -> %+v", ep.Request, ep.Response)
	}
	if ep.Metadata["stream"] != "unary" || ep.Metadata["method"] != "/grpc.testing.TestService/UnaryCall" || ep.Metadata["service"] != testServiceName {
		t.Errorf("unexpected endpoint metadata %v", ep.Metadata)
	}

	// The service answers at the registered address.
	resp, err := testgrpc.NewTestServiceClient(dial(t, node.Address)).UnaryCall(testContext(t), &testgrpc.SimpleRequest{})
	if err != nil || resp.GetUsername() != "done" {
		t.Fatalf("UnaryCall at %s: %v, %v", node.Address, resp, err)
	}
}

func TestHealthServing(t *testing.T) {
	svc := newService(t, newMemoryRegistry(t), newTestServer(false))
	startService(t, svc)
	client := healthgrpc.NewHealthClient(dial(t, svc.Address()))

	tests := []struct {
		service string
		want    healthgrpc.HealthCheckResponse_ServingStatus
		code    codes.Code
	}{
		{service: "", want: healthgrpc.HealthCheckResponse_SERVING},
		{service: testServiceName, want: healthgrpc.HealthCheckResponse_SERVING},
		{service: "no.such.Service", code: codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			resp, err := client.Check(testContext(t), &healthgrpc.HealthCheckRequest{Service: tt.service})
			if have := status.Code(err); have != tt.code {
				t.Fatalf("want code %v, have %v (%v)", tt.code, have, err)
			}
			if tt.code == codes.OK && resp.GetStatus() != tt.want {
				t.Errorf("want %v, have %v", tt.want, resp.GetStatus())
			}
		})
	}
}

func TestReflectionListsServices(t *testing.T) {
	svc := newService(t, newMemoryRegistry(t), newTestServer(false))
	startService(t, svc)
	conn := dial(t, svc.Address())

	want := []string{testServiceName, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}
	t.Run("v1", func(t *testing.T) {
		stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(testContext(t))
		if err != nil {
			t.Fatalf("ServerReflectionInfo: %v", err)
		}
		if err := stream.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		var have []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			have = append(have, s.GetName())
		}
		for _, name := range want {
			if !slices.Contains(have, name) {
				t.Errorf("want %s listed, have %q", name, have)
			}
		}
	})
	t.Run("v1alpha", func(t *testing.T) {
		stream, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(testContext(t))
		if err != nil {
			t.Fatalf("ServerReflectionInfo: %v", err)
		}
		if err := stream.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		var have []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			have = append(have, s.GetName())
		}
		if !slices.Contains(have, testServiceName) {
			t.Errorf("want %s listed, have %q", testServiceName, have)
		}
	})
}

// TestStopDeregistersBeforeDraining checks the order of a stop: the node
// leaves the registry while the listener still accepts connections and an
// in-flight call is still running, then health turns NOT_SERVING, then the
// in-flight call completes and the listener closes.
func TestStopDeregistersBeforeDraining(t *testing.T) {
	srv := newTestServer(true)
	var listenAddr atomic.Value // string, set before Stop
	var listenerOpenAtDeregister atomic.Bool
	reg := &hookRegistry{
		Registry: newMemoryRegistry(t),
		afterDeregister: func() {
			conn, err := net.DialTimeout("tcp", listenAddr.Load().(string), time.Second)
			if err == nil {
				conn.Close()
			}
			listenerOpenAtDeregister.Store(err == nil)
		},
	}
	svc := newService(t, reg, srv, service.DrainTimeout(10*time.Second))
	if err := svc.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	listenAddr.Store(svc.ListenAddress())
	conn := dial(t, svc.Address())

	// Watch health before stopping, to see NOT_SERVING when it comes.
	watchCtx, stopWatch := context.WithCancel(testContext(t))
	defer stopWatch()
	watch, err := healthgrpc.NewHealthClient(conn).Watch(watchCtx, &healthgrpc.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health Watch: %v", err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_SERVING {
		t.Fatalf("want SERVING before stop, have %v, %v", resp, err)
	}

	callDone := make(chan error, 1)
	go func() {
		resp, err := testgrpc.NewTestServiceClient(conn).UnaryCall(testContext(t), &testgrpc.SimpleRequest{})
		if err == nil && resp.GetUsername() != "done" {
			err = errors.New("unexpected response " + resp.String())
		}
		callDone <- err
	}()
	<-srv.entered

	stopDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		stopDone <- svc.Stop(ctx)
	}()

	resp, err := watch.Recv()
	if err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("want NOT_SERVING during stop, have %v, %v", resp, err)
	}
	if nodes := registeredNodes(t, reg, "test"); len(nodes) != 0 {
		t.Fatalf("want no node registered once health is NOT_SERVING, have %v", nodes)
	}
	if !listenerOpenAtDeregister.Load() {
		t.Error("want the listener open when the node was deregistered")
	}
	select {
	case err := <-callDone:
		t.Fatalf("the in-flight call ended before it was released: %v", err)
	case err := <-stopDone:
		t.Fatalf("Stop returned while a call was in flight: %v", err)
	default:
	}

	stopWatch() // a health watch is an in-flight call too
	close(srv.release)
	if err := <-callDone; err != nil {
		t.Fatalf("in-flight call: want success after drain, have %v", err)
	}
	if err := <-stopDone; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", svc.ListenAddress(), time.Second); err == nil {
		c.Close()
		t.Error("want the listener closed after Stop")
	}
}

func TestStopForcesAfterDrainTimeout(t *testing.T) {
	srv := newTestServer(true)
	svc := newService(t, newMemoryRegistry(t), srv, service.DrainTimeout(200*time.Millisecond))
	if err := svc.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	callDone := make(chan error, 1)
	go func() {
		_, err := testgrpc.NewTestServiceClient(dial(t, svc.Address())).UnaryCall(testContext(t), &testgrpc.SimpleRequest{})
		callDone <- err
	}()
	<-srv.entered

	start := time.Now()
	if err := svc.Stop(testContext(t)); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Stop took %s with a 200ms drain timeout", elapsed)
	}
	if code := status.Code(<-callDone); code != codes.Unavailable && code != codes.Canceled {
		t.Errorf("want the cut-off call Unavailable or Canceled, have %v", code)
	}
}

func TestHeartbeatReregistersLostRecord(t *testing.T) {
	const interval = 200 * time.Millisecond
	reg := newMemoryRegistry(t)
	svc := newService(t, reg, newTestServer(false), service.RegisterInterval(interval), service.RegisterTTL(5*time.Second))
	startService(t, svc)

	// The registry loses the record behind the service's back.
	if err := reg.Deregister(testContext(t), svc.Record()); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if nodes := registeredNodes(t, reg, "test"); len(nodes) != 0 {
		t.Fatalf("want the node gone, have %v", nodes)
	}
	waitFor(t, 3*interval, "the heartbeat to register the node again", func() bool {
		nodes := registeredNodes(t, reg, "test")
		return len(nodes) == 1 && nodes[0].ID == svc.ID() && nodes[0].Address == svc.Address()
	})
}

func TestHeartbeatKeepsRecordAliveBeyondTTL(t *testing.T) {
	const ttl = 600 * time.Millisecond
	reg := newMemoryRegistry(t)
	svc := newService(t, reg, newTestServer(false), service.RegisterInterval(100*time.Millisecond), service.RegisterTTL(ttl))
	startService(t, svc)
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		if nodes := registeredNodes(t, reg, "test"); len(nodes) != 1 {
			t.Fatalf("record expired despite the heartbeat")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHeartbeatRetriesSoonerAfterFailure(t *testing.T) {
	const interval = 400 * time.Millisecond
	var (
		mu       sync.Mutex
		calls    []time.Time
		failures = 0
	)
	reg := &hookRegistry{
		Registry: newMemoryRegistry(t),
		beforeRegister: func() error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, time.Now())
			// The first call (Start) succeeds, the next two heartbeats fail.
			if len(calls) > 1 && failures < 2 {
				failures++
				return registry.ErrUnreachable
			}
			return nil
		},
	}
	logs := &testutil.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := newService(t, reg, newTestServer(false),
		service.RegisterInterval(interval), service.RegisterTTL(5*time.Second), service.Logger(logger))
	startService(t, svc)

	waitFor(t, 5*interval, "a heartbeat to succeed after two failures", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) >= 4
	})
	mu.Lock()
	firstFailure, retry := calls[1], calls[2]
	mu.Unlock()
	if gap := retry.Sub(firstFailure); gap >= interval {
		t.Errorf("want a retry sooner than the %s interval after a failure, have %s", interval, gap)
	}
	waitFor(t, time.Second, "the recovery to be logged", func() bool {
		return strings.Contains(logs.String(), "registry heartbeat recovered")
	})
	if have := logs.String(); !strings.Contains(have, "registry heartbeat failed") || !strings.Contains(have, "registry unreachable") {
		t.Errorf("want the failures logged with their cause, have:\n%s", have)
	}
}

func TestRunStopsCleanlyWhenContextEnds(t *testing.T) {
	reg := newMemoryRegistry(t)
	svc := newService(t, reg, newTestServer(false))
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(ctx) }()

	waitFor(t, 5*time.Second, "the service to register", func() bool { return len(registeredNodes(t, reg, "test")) == 1 })
	cancel()
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run: want nil after a clean stop, have %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if nodes := registeredNodes(t, reg, "test"); len(nodes) != 0 {
		t.Errorf("want no node after Run returned, have %v", nodes)
	}
}

func TestStartFailsWhenRegistrationFails(t *testing.T) {
	reg := &hookRegistry{
		Registry:       newMemoryRegistry(t),
		beforeRegister: func() error { return registry.ErrUnreachable },
	}
	svc := newService(t, reg, newTestServer(false))
	err := svc.Start(testContext(t))
	if !errors.Is(err, registry.ErrUnreachable) {
		t.Fatalf("want an error wrapping ErrUnreachable, have %v", err)
	}
	for _, want := range []string{`service "test"`, "register node", "memory registry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if err := svc.Start(testContext(t)); !errors.Is(err, service.ErrStopped) {
		t.Errorf("want ErrStopped when starting again, have %v", err)
	}
	if err := svc.Stop(testContext(t)); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

func TestStartTwice(t *testing.T) {
	svc := newService(t, newMemoryRegistry(t), newTestServer(false))
	startService(t, svc)
	if err := svc.Start(testContext(t)); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("want an already started error, have %v", err)
	}
}

func TestStartAfterStop(t *testing.T) {
	svc := newService(t, newMemoryRegistry(t), newTestServer(false))
	if err := svc.Stop(testContext(t)); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	if err := svc.Start(testContext(t)); !errors.Is(err, service.ErrStopped) {
		t.Fatalf("want ErrStopped, have %v", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	reg := newMemoryRegistry(t)
	tests := []struct {
		name string
		opts []service.Option
		want []string
	}{
		{name: "no name", opts: []service.Option{service.Registry(reg)}, want: []string{"service:", "no name"}},
		{name: "no registry", opts: []service.Option{service.Name("greeter")}, want: []string{`service "greeter"`, "no registry"}},
		{name: "nil registry", opts: []service.Option{service.Name("greeter"), service.Registry(nil)}, want: []string{"registry is nil"}},
		{name: "bad name", opts: []service.Option{service.Name("gree ter"), service.Registry(reg)}, want: []string{"whitespace"}},
		{name: "bad address", opts: []service.Option{service.Name("greeter"), service.Registry(reg), service.Address("8080")}, want: []string{`listen address "8080"`}},
		{name: "interval not below ttl", opts: []service.Option{service.Name("greeter"), service.Registry(reg), service.RegisterTTL(time.Second), service.RegisterInterval(time.Second)}, want: []string{"shorter than register ttl"}},
		{name: "negative ttl", opts: []service.Option{service.Name("greeter"), service.Registry(reg), service.RegisterTTL(-time.Second)}, want: []string{"register ttl must be positive"}},
		{name: "nil handler", opts: []service.Option{service.Name("greeter"), service.Registry(reg), service.Handle(nil)}, want: []string{"handler"}},
		{name: "empty metadata key", opts: []service.Option{service.Name("greeter"), service.Registry(reg), service.Metadata(map[string]string{"": "x"})}, want: []string{"empty key"}},
		{name: "several errors", opts: []service.Option{service.Name("greeter"), service.Registry(nil), service.DrainTimeout(0)}, want: []string{"registry is nil", "drain timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := service.New(tt.opts...)
			if err == nil {
				t.Fatalf("want an error containing %q, have none", tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("want a one-line error, have %q", err)
			}
		})
	}
}

func TestNodeBeforeStart(t *testing.T) {
	svc := newService(t, newMemoryRegistry(t), newTestServer(false))
	t.Cleanup(func() { svc.Stop(context.Background()) })
	node := svc.Node()
	if node.ID != svc.ID() || node.Address != "" || node.Metadata["protocol"] != "grpc" {
		t.Errorf("unexpected node before Start: %+v", node)
	}
}
