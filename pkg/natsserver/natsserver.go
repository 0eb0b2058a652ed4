package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultAddress is where `micro server` listens when not told otherwise.
const DefaultAddress = "127.0.0.1:4222"

// DefaultServerName names the server when Options.ServerName is empty.
const DefaultServerName = "micro"

// DefaultStartTimeout bounds how long Start waits for the server to accept
// clients when ctx has no earlier deadline.
const DefaultStartTimeout = 30 * time.Second

// Options configure an embedded server. DataDir is required; the rest have
// defaults.
type Options struct {
	// Address is the client listen address, host:port. Port 0 picks a free
	// port; ClientURL reports the one chosen. Default DefaultAddress.
	Address string
	// DataDir is where JetStream keeps its streams (key-value buckets
	// included). It is created if missing. Required: a server that forgot its
	// registry on every start would surprise its users.
	DataDir string
	// ServerName names the server in its INFO and in JetStream (no spaces).
	// Default DefaultServerName.
	ServerName string
	// MaxPayload is the largest message the server accepts, in bytes.
	// Zero keeps the nats-server default (1 MiB).
	MaxPayload int32
	// MaxStore caps the JetStream file store, in bytes. Zero lets the server
	// choose from the free disk space.
	MaxStore int64
	// Logger receives the server's log. Nil keeps the server silent. Debug
	// output is enabled when the logger is enabled for slog.LevelDebug, and
	// protocol tracing when it is enabled for LevelTrace.
	Logger *slog.Logger
	// StartTimeout bounds how long Start waits for the server to be ready
	// when ctx has no earlier deadline. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// Cluster, when its Name is set, makes the server a member of a NATS
	// cluster with JetStream clustered over the members. See ClusterOptions.
	Cluster ClusterOptions
}

// LevelTrace is the slog level of the server's protocol trace, one step more
// verbose than debug.
const LevelTrace = slog.LevelDebug - 4

// Server is a running embedded NATS server.
type Server struct {
	ns      *server.Server
	addr    string // host:port actually listened on
	url     string
	dataDir string
	name    string
	// clusterName and clusterAddr are empty for a single server.
	clusterName, clusterAddr string
}

// Start starts a NATS server with JetStream and returns once it accepts
// clients. ctx bounds the start only; the server runs until Shutdown.
//
// When the address is taken the error says so and wraps the system error
// (errors.Is(err, syscall.EADDRINUSE)):
//
//	nats server: cannot listen on 127.0.0.1:4222: address already in use
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats server: not started: %w", err)
	}
	if opts.Address == "" {
		opts.Address = DefaultAddress
	}
	if opts.ServerName == "" {
		opts.ServerName = DefaultServerName
		if opts.Cluster.Name != "" {
			opts.ServerName = MemberName(opts.Cluster.Address)
		}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if strings.TrimSpace(opts.DataDir) == "" {
		return nil, errors.New("nats server: no data directory given for the jetstream store")
	}
	host, port, err := splitAddress(opts.Address)
	if err != nil {
		return nil, err
	}

	// nats-server reports a listen failure through its logger and carries on;
	// try the address first so that the common case, a port that is taken,
	// comes back with the system error intact.
	if port != 0 {
		if err := probeListen(opts.Address); err != nil {
			return nil, err
		}
	}

	serverPort := port
	if port == 0 {
		serverPort = server.RANDOM_PORT
	}
	nsOpts := &server.Options{
		ServerName:        opts.ServerName,
		Host:              host,
		Port:              serverPort,
		MaxPayload:        opts.MaxPayload,
		JetStream:         true,
		StoreDir:          opts.DataDir,
		JetStreamMaxStore: opts.MaxStore,
		NoSigs:            true,
		NoLog:             true, // the logger is ours, set below
	}
	if err := opts.Cluster.apply(nsOpts); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(nsOpts)
	if err != nil {
		return nil, fmt.Errorf("nats server: invalid options for %s: %w", opts.Address, err)
	}
	log := newLogger(opts.Logger)
	ns.SetLoggerV2(log, log.enabled(slog.LevelDebug), log.enabled(LevelTrace), false)

	ns.Start() // synchronous up to the accept loop; failures go to log.Fatalf
	if err := startError(ctx, ns, log, opts); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}

	tcp, ok := ns.Addr().(*net.TCPAddr)
	if !ok {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("nats server: no client listener on %s", opts.Address)
	}
	urlHost := host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		urlHost = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	srv := &Server{
		ns:      ns,
		addr:    addr,
		url:     "nats://" + net.JoinHostPort(urlHost, strconv.Itoa(tcp.Port)),
		dataDir: opts.DataDir,
		name:    opts.ServerName,
	}
	if opts.Cluster.Name != "" {
		srv.clusterName = opts.Cluster.Name
		srv.clusterAddr = ns.ClusterAddr().String()
	}
	return srv, nil
}

// startError waits until ns accepts clients and reports why it does not.
func startError(ctx context.Context, ns *server.Server, log *logger, opts Options) error {
	deadline := time.Now().Add(opts.StartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		if msg := log.fatal(); msg != "" {
			return fmt.Errorf("nats server: cannot start on %s with data directory %s: %s", opts.Address, opts.DataDir, msg)
		}
		if ns.ReadyForConnections(50 * time.Millisecond) {
			if !ns.JetStreamEnabled() {
				return fmt.Errorf("nats server: jetstream did not start on %s with data directory %s", opts.Address, opts.DataDir)
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("nats server: not ready on %s: %w", opts.Address, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats server: not ready on %s within %s", opts.Address, opts.StartTimeout)
		}
	}
}

func splitAddress(address string) (host string, port int, err error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, fmt.Errorf("nats server: address %q is not host:port: %w", address, err)
	}
	port, err = strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("nats server: address %q has an invalid port %q", address, portText)
	}
	return host, port, nil
}

func probeListen(address string) error {
	l, err := net.Listen("tcp", address)
	if err != nil {
		cause := err
		var errno syscall.Errno
		var opErr *net.OpError
		switch {
		case errors.As(err, &errno):
			cause = errno
		case errors.As(err, &opErr) && opErr.Err != nil:
			cause = opErr.Err
		}
		return &listenError{address: address, cause: cause, err: err}
	}
	return l.Close()
}

// listenError says which address could not be listened on; it unwraps to
// the full net error, so errors.Is(err, syscall.EADDRINUSE) holds.
type listenError struct {
	address string
	cause   error // the short reason, for the message
	err     error
}

func (e *listenError) Error() string {
	return fmt.Sprintf("nats server: cannot listen on %s: %v", e.address, e.cause)
}

func (e *listenError) Unwrap() error { return e.err }

// ClientURL is the URL clients connect to, nats://host:port. When the server
// listens on all interfaces it names 127.0.0.1.
func (s *Server) ClientURL() string { return s.url }

// Addr is the host:port the server listens on, with the port it chose when
// Options.Address had port 0.
func (s *Server) Addr() string { return s.addr }

// DataDir is the JetStream store directory.
func (s *Server) DataDir() string { return s.dataDir }

// Shutdown stops the server: it closes client connections, flushes and
// closes the JetStream store and returns once everything has stopped. It is
// safe to call more than once.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// WaitForShutdown blocks until the server has shut down, by Shutdown from
// another goroutine.
func (s *Server) WaitForShutdown() { s.ns.WaitForShutdown() }

// String names the server for messages: "nats server at nats://127.0.0.1:4222".
func (s *Server) String() string { return "nats server at " + s.url }
