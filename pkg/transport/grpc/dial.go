package grpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/microtools/micro/pkg/transport"
)

// DefaultConnectTimeout is how long Dial waits for a connection when
// DialOptions.ConnectTimeout is zero.
const DefaultConnectTimeout = 10 * time.Second

// DialOptions say how Dial connects. The zero value connects in plaintext.
type DialOptions struct {
	// TLS connects with TLS, verifying the server with the system's roots
	// (or CACert). Setting CACert, Cert or Insecure implies it.
	TLS bool
	// CACert is a PEM file of the certificate authorities that the
	// server's certificate must chain to, instead of the system's.
	CACert string
	// Cert and Key are PEM files of a client certificate and its key, for
	// servers that verify clients (mutual TLS). Both or neither.
	Cert, Key string
	// Insecure skips verifying the server's certificate. For tests only.
	Insecure bool
	// Authority overrides the :authority header and the name the server's
	// certificate must be valid for.
	Authority string
	// ConnectTimeout bounds the wait for the connection; zero means
	// DefaultConnectTimeout. ctx bounds it too.
	ConnectTimeout time.Duration
	// MaxMsgSize is the largest message, in bytes, the connection sends
	// or receives; zero keeps gRPC's defaults (4 MiB received).
	MaxMsgSize int
	// DialOptions are added last, to override the above.
	DialOptions []grpc.DialOption
}

// Dial connects to address (host:port) and returns the connection once it is
// ready. Unlike grpc.NewClient, it fails at once with the real cause when
// the server cannot be reached: a refused connection, a failed name lookup,
// a TLS handshake error. A connection that neither succeeds nor fails within
// the connect timeout is an error that says so, with the last cause seen.
// All errors are *transport.ConnectError, apart from invalid options (a
// CA file that cannot be read, a certificate without its key): those say
// nothing about the node, so a client does not try another one for them.
//
// This is the one dialler of gRPC nodes: the client that calls by name
// (pkg/client) keeps the connections it returns in its pool.
func Dial(ctx context.Context, address string, opts DialOptions) (*grpc.ClientConn, error) {
	recorder := &connectRecorder{}
	creds, err := transportCredentials(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", address, err)
	}
	dialOptions := []grpc.DialOption{
		grpc.WithTransportCredentials(recordingCredentials{TransportCredentials: creds, recorder: recorder}),
		grpc.WithContextDialer(recorder.dial),
	}
	if opts.Authority != "" {
		dialOptions = append(dialOptions, grpc.WithAuthority(opts.Authority))
	}
	if opts.MaxMsgSize > 0 {
		dialOptions = append(dialOptions, grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(opts.MaxMsgSize), grpc.MaxCallSendMsgSize(opts.MaxMsgSize)))
	}
	dialOptions = append(dialOptions, opts.DialOptions...)
	conn, err := grpc.NewClient(address, dialOptions...)
	if err != nil {
		return nil, &transport.ConnectError{Transport: transport.NameGRPC, Address: address, Err: err}
	}
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	recorder.tls = usesTLS(opts)
	recorder.tlsWithoutCert = recorder.tls && opts.Cert == ""
	if err := waitReady(ctx, conn, timeout, recorder); err != nil {
		_ = conn.Close()
		return nil, &transport.ConnectError{Transport: transport.NameGRPC, Address: address, Err: err}
	}
	return conn, nil
}

// waitReady connects conn and waits until it is ready, fails, or time is up.
func waitReady(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration, recorder *connectRecorder) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn.Connect()
	for {
		state := conn.GetState()
		switch state {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			if err := recorder.last(); err != nil {
				return err
			}
			err := lastConnectionError(conn)
			if !recorder.tls && strings.Contains(err.Error(), "server preface") {
				err = fmt.Errorf("%w (the server does not speak plaintext HTTP/2: does it want TLS?)", err)
			}
			if recorder.tlsWithoutCert && recorder.handshook() {
				// TLS 1.3 servers check client certificates after the
				// client's handshake is over: all the client sees is
				// a closed connection.
				err = fmt.Errorf("%w (the TLS handshake succeeded, then the server closed the connection: it may require a client certificate)", err)
			}
			return err
		}
		if !conn.WaitForStateChange(ctx, state) {
			err := context.Cause(ctx)
			if ctx.Err() == context.DeadlineExceeded {
				err = fmt.Errorf("no connection within %s", timeout)
			}
			if last := recorder.last(); last != nil {
				return fmt.Errorf("%w (last error: %s)", err, transport.ShortCause(last))
			}
			return err
		}
	}
}

// lastConnectionError asks gRPC why conn failed when neither the dialer nor
// the handshake saw an error (the server did not speak HTTP/2, say): an RPC
// on a failed connection fails at once with the transport's last error.
func lastConnectionError(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := conn.Invoke(ctx, "/grpc.health.v1.Health/Check", &emptypb.Empty{}, &emptypb.Empty{})
	if st, ok := status.FromError(err); ok && err != nil {
		message := st.Message()
		if quoted, found := strings.CutPrefix(message, "connection error: desc = "); found {
			if unquoted, err := strconv.Unquote(quoted); err == nil {
				message = unquoted
			}
		}
		return errors.New(message)
	}
	return errors.New("the connection failed")
}

// transportCredentials builds the credentials opts ask for.
func transportCredentials(opts DialOptions) (credentials.TransportCredentials, error) {
	if !usesTLS(opts) {
		return insecure.NewCredentials(), nil
	}
	config := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: opts.Insecure, //nolint:gosec // asked for, for tests
		ServerName:         opts.Authority,
	}
	if opts.CACert != "" {
		pem, err := os.ReadFile(opts.CACert)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read CA certificate %s: no PEM certificate in it", opts.CACert)
		}
		config.RootCAs = pool
	}
	if (opts.Cert == "") != (opts.Key == "") {
		return nil, errors.New("a client certificate needs both the certificate and the key file")
	}
	if opts.Cert != "" {
		pair, err := tls.LoadX509KeyPair(opts.Cert, opts.Key)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s and key %s: %w", opts.Cert, opts.Key, err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

// usesTLS tells whether opts ask for TLS.
func usesTLS(opts DialOptions) bool {
	return opts.TLS || opts.CACert != "" || opts.Cert != "" || opts.Key != "" || opts.Insecure
}

// connectRecorder keeps the last error seen connecting, for the message of a
// connection that fails.
type connectRecorder struct {
	tls, tlsWithoutCert bool // set before connecting

	mu         sync.Mutex
	err        error
	handshakes int // successful
}

func (r *connectRecorder) handshakeDone() {
	r.mu.Lock()
	r.handshakes++
	r.mu.Unlock()
}

func (r *connectRecorder) handshook() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handshakes > 0
}

func (r *connectRecorder) record(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *connectRecorder) last() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// dial is the gRPC dialer: TCP, recording the outcome.
func (r *connectRecorder) dial(ctx context.Context, address string) (net.Conn, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", address)
	r.record(err)
	return conn, err
}

// recordingCredentials records the outcome of each client handshake.
type recordingCredentials struct {
	credentials.TransportCredentials
	recorder *connectRecorder
}

func (c recordingCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	secured, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		c.recorder.record(err)
	} else {
		c.recorder.handshakeDone()
	}
	return secured, info, err
}

func (c recordingCredentials) Clone() credentials.TransportCredentials {
	return recordingCredentials{TransportCredentials: c.TransportCredentials.Clone(), recorder: c.recorder}
}

// Credentials returns the transport credentials opts ask for: plaintext,
// or TLS with the CA, client certificate and server name given.
func Credentials(opts DialOptions) (credentials.TransportCredentials, error) {
	return transportCredentials(opts)
}
