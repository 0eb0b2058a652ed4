package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/registry"
)

// Node metadata keys the service sets itself.
const (
	MetadataTransport = "transport" // always "grpc"
	MetadataProtocol  = "protocol"  // always "grpc"
	MetadataServer    = "server"    // always "micro"
	MetadataRegistry  = "registry"  // the registry backend: "nats", "consul", "memory"
)

// registryTimeout bounds one registry call made while starting or stopping.
const registryTimeout = 5 * time.Second

// ErrStopped is returned by Start when the service was already stopped (or
// a previous Start failed): a Service runs once; create a new one with New.
var ErrStopped = errors.New("service already stopped")

type state int

const (
	stateNew state = iota
	stateRunning
	stateStopped
)

// Service is a gRPC server that registers itself in a registry while it
// runs. Create it with New, register implementations (with the Handle
// option or on Server), then call Run, or Start and Stop. A Service runs
// once.
type Service struct {
	opts   Options
	logger *slog.Logger
	id     string
	server *grpc.Server
	health *health.Server

	mu            sync.Mutex
	state         state
	node          *registry.Node
	record        *registry.Service // set by Start, then never changed
	listener      net.Listener
	heartbeatStop context.CancelFunc
	heartbeatDone chan struct{}
	serveDone     chan struct{}
	serveErr      error // written before serveDone is closed
	subscriptions []broker.Subscription

	stopOnce sync.Once
	stopErr  error
}

// New builds a service from opts; later options override earlier ones. Name
// and Registry are required. Every bad option is reported in the error.
func New(opts ...Option) (*Service, error) {
	o := defaultOptions()
	var errs []error
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, o.validate())
	}
	if err := joinErrors(errs...); err != nil {
		if o.Name == "" {
			return nil, fmt.Errorf("service: %w", err)
		}
		return nil, fmt.Errorf("service %q: %w", o.Name, err)
	}

	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("service", o.Name)
	serverOpts := o.GRPCOptions
	if !o.NoReflection {
		serverOpts = append([]grpc.ServerOption{grpc.ChainStreamInterceptor(logReflection(logger))}, serverOpts...)
	}
	s := &Service{
		opts:   o,
		logger: logger,
		id:     o.Name + "-" + newUUID(),
		server: grpc.NewServer(serverOpts...),
		health: health.NewServer(),
	}
	s.node = &registry.Node{ID: s.id, Metadata: nodeMetadata(o.Metadata, o.Registry)}
	s.health.SetServingStatus("", healthgrpc.HealthCheckResponse_NOT_SERVING)
	healthgrpc.RegisterHealthServer(s.server, s.health)
	if !o.NoReflection {
		reflection.Register(s.server)
	}
	for _, register := range o.Handlers {
		register(s.server)
	}
	return s, nil
}

// Server returns the gRPC server, to register implementations on before
// Start.
func (s *Service) Server() *grpc.Server { return s.server }

// ID returns the node ID: the service name, "-", and a random UUID.
func (s *Service) ID() string { return s.id }

// Name returns the service name.
func (s *Service) Name() string { return s.opts.Name }

// Address returns the address registered for others to reach the service,
// or "" before Start.
func (s *Service) Address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node.Address
}

// ListenAddress returns the address the service listens on, with the port
// the system picked, or "" before Start.
func (s *Service) ListenAddress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Node returns a copy of the node the service registers; its Address is
// empty before Start.
func (s *Service) Node() *registry.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return registry.CloneNode(s.node)
}

// Record returns a copy of the record the service registers, with its
// endpoints, or nil before Start.
func (s *Service) Record() *registry.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return registry.Clone(s.record)
}

// Run starts the service, serves until ctx is done and then stops it as
// Stop does, with a fresh deadline of the drain timeout plus time for the
// registry. It returns nil after a clean stop, and an error when the service
// could not start, the server failed, or deregistering failed.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	serveDone := s.serveDone
	s.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-serveDone:
		// The server stopped on its own; Stop reports why.
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.DrainTimeout+2*registryTimeout)
	defer cancel()
	return s.Stop(stopCtx)
}

// Start listens, starts serving, marks every service SERVING in
// grpc.health.v1, subscribes its subscribers, registers the node and starts
// the heartbeat. ctx bounds
// only the start itself; the service runs until Stop. If Start fails the
// service is stopped and cannot be started again.
func (s *Service) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateRunning:
		return fmt.Errorf("service %q: already started", s.opts.Name)
	case stateStopped:
		return fmt.Errorf("service %q: %w", s.opts.Name, ErrStopped)
	}
	s.state = stateStopped // until Start succeeds
	defer func() {
		if err != nil {
			err = fmt.Errorf("service %q: %w", s.opts.Name, err)
		}
	}()

	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", s.opts.Address)
	if err != nil {
		s.server.Stop()
		return fmt.Errorf("listen on %s: %w", s.opts.Address, err)
	}
	ifaceAddrs, err := s.opts.interfaceAddrs()
	if err != nil {
		s.logger.Warn("cannot list network interfaces; advertising 127.0.0.1 unless told otherwise", "error", err)
	}
	advertise, err := advertiseAddress(lis.Addr().String(), s.opts.Advertise, ifaceAddrs)
	if err != nil {
		lis.Close()
		s.server.Stop()
		return fmt.Errorf("advertise address: %w", err)
	}

	node := registry.CloneNode(s.node)
	node.Address = advertise
	info := s.server.GetServiceInfo()
	if fingerprint := servedFingerprint(info, protoregistry.GlobalFiles); fingerprint != "" {
		node.Metadata[registry.MetadataDescriptorsFingerprint] = fingerprint
	}
	record := &registry.Service{
		Name:      s.opts.Name,
		Version:   s.opts.Version,
		Endpoints: endpoints(info, protoregistry.GlobalFiles),
		Nodes:     []*registry.Node{node},
	}

	s.health.SetServingStatus("", healthgrpc.HealthCheckResponse_SERVING)
	for name := range info {
		if !isInfrastructure(name) {
			s.health.SetServingStatus(name, healthgrpc.HealthCheckResponse_SERVING)
		}
	}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		s.serveErr = s.server.Serve(lis)
	}()

	// Subscribe once the server is up and before registering, so that a
	// service that cannot subscribe is never chosen by callers.
	subs, err := s.subscribe(ctx)
	if err != nil {
		s.health.Shutdown()
		s.server.Stop()
		<-serveDone
		return err
	}

	regCtx, cancel := context.WithTimeout(ctx, registryTimeout)
	err = s.opts.Registry.Register(regCtx, registry.Clone(record), registry.WithTTL(s.opts.RegisterTTL))
	cancel()
	if err != nil {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
		s.health.Shutdown()
		s.server.Stop()
		<-serveDone
		return fmt.Errorf("register node %s (%s) in %s: %w", node.ID, node.Address, s.opts.Registry, err)
	}

	hbCtx, hbStop := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go s.heartbeat(hbCtx, record, hbDone)

	s.state = stateRunning
	s.node, s.record, s.listener = node, record, lis
	s.heartbeatStop, s.heartbeatDone, s.serveDone = hbStop, hbDone, serveDone
	s.subscriptions = subs
	s.logger.Info("service started",
		"id", s.id, "version", s.opts.Version,
		"listen", lis.Addr().String(), "advertise", advertise,
		"registry", s.opts.Registry.String(), "endpoints", len(record.Endpoints))
	return nil
}

// Stop stops a started service in this order: it stops the heartbeat,
// deregisters the node (so that callers stop choosing it), marks every
// service NOT_SERVING, then stops accepting calls and waits for in-flight
// calls to finish while its subscriptions stop receiving and finish the
// messages they hold, each for at most the drain timeout or until ctx is
// done, after which it closes the remaining connections and cancels the
// remaining handlers. Stop before Start makes the
// service unusable and returns nil; later calls return the first call's
// result.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Service) stop(ctx context.Context) error {
	s.mu.Lock()
	prev := s.state
	s.state = stateStopped
	record, lis := s.record, s.listener
	hbStop, hbDone, serveDone := s.heartbeatStop, s.heartbeatDone, s.serveDone
	subs := s.subscriptions
	s.mu.Unlock()
	if prev != stateRunning {
		if prev == stateNew {
			s.server.Stop()
		}
		return nil
	}

	node := record.Nodes[0]
	s.logger.Info("service stopping", "id", s.id)
	hbStop()
	<-hbDone

	var errs []error
	deregCtx, cancel := context.WithTimeout(ctx, registryTimeout)
	err := s.opts.Registry.Deregister(deregCtx, registry.Clone(record))
	cancel()
	if err != nil {
		err = fmt.Errorf("service %q: deregister node %s from %s (its record expires after %s): %w",
			s.opts.Name, node.ID, s.opts.Registry, s.opts.RegisterTTL, err)
		s.logger.Warn("deregister failed", "id", s.id, "error", err)
		errs = append(errs, err)
	} else {
		s.logger.Info("deregistered", "id", s.id, "registry", s.opts.Registry.String())
	}

	// Drain the subscriptions while the gRPC server drains its calls.
	unsubscribed := make(chan struct{})
	go func() {
		defer close(unsubscribed)
		s.unsubscribe(ctx, subs)
	}()
	s.health.Shutdown()
	s.drain(ctx)
	<-unsubscribed
	<-serveDone
	if s.serveErr != nil && !errors.Is(s.serveErr, grpc.ErrServerStopped) {
		errs = append(errs, fmt.Errorf("service %q: serve on %s: %w", s.opts.Name, lis.Addr(), s.serveErr))
	}
	s.logger.Info("service stopped", "id", s.id)
	return joinErrors(errs...)
}

// drain stops the server gracefully, forcing it closed after the drain
// timeout or when ctx ends.
func (s *Service) drain(ctx context.Context) {
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		s.server.GracefulStop()
	}()
	timer := time.NewTimer(s.opts.DrainTimeout)
	defer timer.Stop()
	select {
	case <-drained:
		return
	case <-timer.C:
		s.logger.Warn("in-flight calls did not finish within the drain timeout; closing their connections", "drain_timeout", s.opts.DrainTimeout)
	case <-ctx.Done():
		s.logger.Warn("stop deadline reached while draining; closing the remaining connections", "error", ctx.Err())
	}
	s.server.Stop()
	<-drained
}

// heartbeat registers record again every interval until ctx is done. The
// registry's Register refreshes the TTL, or registers in full when the
// backend lost the record. A failed heartbeat is logged and retried sooner,
// backing off from a quarter of the interval up to the interval.
func (s *Service) heartbeat(ctx context.Context, record *registry.Service, done chan<- struct{}) {
	defer close(done)
	interval := s.opts.RegisterInterval
	callTimeout := min(max(interval, time.Second), registryTimeout)
	firstRetry := max(min(interval/4, time.Second), 10*time.Millisecond)

	failures := 0
	retry := firstRetry
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		err := s.opts.Registry.Register(callCtx, registry.Clone(record), registry.WithTTL(s.opts.RegisterTTL))
		cancel()
		next := interval
		switch {
		case err != nil && ctx.Err() != nil:
			return // stopping
		case err != nil:
			failures++
			next = retry
			retry = min(retry*2, interval)
			s.logger.Warn("registry heartbeat failed; retrying",
				"id", s.id, "registry", s.opts.Registry.String(),
				"failures", failures, "retry_in", next, "error", err)
		case failures > 0:
			s.logger.Info("registry heartbeat recovered", "id", s.id, "registry", s.opts.Registry.String(), "failures", failures)
			failures, retry = 0, firstRetry
		default:
			s.logger.Debug("registry heartbeat", "id", s.id)
		}
		timer.Reset(next)
	}
}

// nodeMetadata is the user's metadata with the service's own keys on top.
func nodeMetadata(user map[string]string, reg registry.Registry) map[string]string {
	md := maps.Clone(user)
	if md == nil {
		md = map[string]string{}
	}
	md[MetadataTransport] = "grpc"
	md[MetadataProtocol] = "grpc"
	md[MetadataServer] = "micro"
	if name := registryName(reg); name != "" {
		md[MetadataRegistry] = name
	}
	return md
}

// registryName names the registry backend: its Name method when it has
// one, else the first word of its String ("consul at 127.0.0.1:8500" ->
// "consul").
func registryName(reg registry.Registry) string {
	if named, ok := reg.(interface{ Name() string }); ok {
		return named.Name()
	}
	if fields := strings.Fields(reg.String()); len(fields) > 0 {
		return strings.ToLower(strings.TrimRight(fields[0], ":"))
	}
	return ""
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
