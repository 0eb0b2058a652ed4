package grpc_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/transport"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// testContext is a context that ends with the test, or after a minute.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestDialTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	tlsServer := startGreeter(t, grpc.Creds(credentials.NewTLS(pki.ServerConfig(false))))
	mtlsServer := startGreeter(t, grpc.Creds(credentials.NewTLS(pki.ServerConfig(true))))
	plainServer := startGreeter(t)

	tests := []struct {
		name     string
		addr     string
		opts     grpctransport.DialOptions
		mentions []string // of the error; none: Dial and a call succeed
		// invalid: the options are wrong, whatever the node: the error
		// is not a *transport.ConnectError, so no other node is tried.
		invalid bool
	}{
		{name: "TLS with the CA", addr: tlsServer, opts: grpctransport.DialOptions{CACert: pki.CAFile}},
		{name: "TLS without verifying", addr: tlsServer, opts: grpctransport.DialOptions{Insecure: true}},
		{name: "TLS with an authority in the certificate", addr: tlsServer, opts: grpctransport.DialOptions{CACert: pki.CAFile, Authority: "greeter"}},
		{name: "mutual TLS", addr: mtlsServer, opts: grpctransport.DialOptions{CACert: pki.CAFile, Cert: pki.ClientCertFile, Key: pki.ClientKeyFile}},
		{
			name: "TLS with the system roots", addr: tlsServer, opts: grpctransport.DialOptions{TLS: true},
			mentions: []string{"connect to " + tlsServer, "certificate signed by unknown authority"},
		},
		{
			name: "TLS with another CA", addr: tlsServer, opts: grpctransport.DialOptions{CACert: pki.OtherCAFile},
			mentions: []string{"certificate signed by unknown authority"},
		},
		{
			name: "TLS with an authority not in the certificate", addr: tlsServer, opts: grpctransport.DialOptions{CACert: pki.CAFile, Authority: "wrong.test"},
			mentions: []string{"wrong.test"},
		},
		{
			name: "mutual TLS without a client certificate", addr: mtlsServer, opts: grpctransport.DialOptions{CACert: pki.CAFile},
			mentions: []string{"connect to " + mtlsServer, "client certificate"},
		},
		{
			name: "TLS to a plaintext server", addr: plainServer, opts: grpctransport.DialOptions{CACert: pki.CAFile},
			mentions: []string{"connect to " + plainServer, "TLS handshake"},
		},
		{
			name: "plaintext to a TLS server", addr: tlsServer, opts: grpctransport.DialOptions{},
			mentions: []string{"connect to " + tlsServer, "does it want TLS?"},
		},
		{
			name: "certificate without key", addr: mtlsServer, opts: grpctransport.DialOptions{Cert: pki.ClientCertFile},
			mentions: []string{"both the certificate and the key"}, invalid: true,
		},
		{
			name: "missing CA file", addr: tlsServer, opts: grpctransport.DialOptions{CACert: filepath.Join(t.TempDir(), "none.pem")},
			mentions: []string{"none.pem"}, invalid: true,
		},
		{
			name: "CA file that is not PEM", addr: tlsServer, opts: grpctransport.DialOptions{CACert: pki.ClientKeyFile},
			mentions: []string{"no PEM certificate"}, invalid: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.ConnectTimeout = 20 * time.Second
			start := time.Now()
			conn, err := grpctransport.Dial(testContext(t), tc.addr, tc.opts)
			if len(tc.mentions) > 0 {
				if err == nil {
					conn.Close()
					t.Fatal("Dial: want an error, have a connection")
				}
				t.Logf("error: %v", err)
				for _, mention := range tc.mentions {
					if !strings.Contains(err.Error(), mention) {
						t.Errorf("error %q does not mention %q", err, mention)
					}
				}
				if elapsed := time.Since(start); elapsed > 10*time.Second {
					t.Errorf("Dial took %s to fail: want it to fail fast", elapsed)
				}
				if isConnect := errors.As(err, new(*transport.ConnectError)); isConnect == tc.invalid {
					t.Errorf("a *transport.ConnectError: have %v, want %v", isConnect, !tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			t.Cleanup(func() { conn.Close() })
			resp, err := greeterpb.NewGreeterClient(conn).Hello(testContext(t), &greeterpb.HelloRequest{Name: "Ada"})
			if err != nil || resp.GetMessage() != "Hello Ada" {
				t.Fatalf("a call over the connection: %v %v", resp, err)
			}
		})
	}
}

func TestDialUnreachableNamesTheCause(t *testing.T) {
	// A port that was just free: nothing listens on it.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()

	start := time.Now()
	conn, err := grpctransport.Dial(testContext(t), addr, grpctransport.DialOptions{ConnectTimeout: 20 * time.Second})
	if err == nil {
		conn.Close()
		t.Fatalf("Dial(%s): want an error, nothing listens there", addr)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Dial took %s to fail: want it to fail fast, not wait for the timeout", elapsed)
	}
	if want := "connect to " + addr + ": connection refused"; err.Error() != want {
		t.Errorf("error: want %q, have %q", want, err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED): want true for %v", err)
	}
	var connectErr *transport.ConnectError
	if !errors.As(err, &connectErr) || connectErr.Address != addr {
		t.Errorf("want a *ConnectError for %s, have %#v", addr, err)
	}
}

func TestDialTimeoutSaysSo(t *testing.T) {
	// A listener that never answers the HTTP/2 handshake: the connection
	// neither succeeds nor fails.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			c, err := listener.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	_, err = grpctransport.Dial(testContext(t), listener.Addr().String(), grpctransport.DialOptions{ConnectTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("Dial: want an error")
	}
	if !strings.Contains(err.Error(), "no connection within 300ms") || !strings.Contains(err.Error(), listener.Addr().String()) {
		t.Errorf("error %q: want the address and the timeout", err)
	}
}
