package call_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/call"
)

func TestDialTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	tlsServer := startGreeter(t, false, grpc.Creds(credentials.NewTLS(pki.ServerConfig(false))))
	mtlsServer := startGreeter(t, false, grpc.Creds(credentials.NewTLS(pki.ServerConfig(true))))
	plainServer := startGreeter(t, false)

	tests := []struct {
		name     string
		addr     string
		opts     call.DialOptions
		mentions []string // of the error; none: Dial and a call succeed
	}{
		{name: "TLS with the CA", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.CAFile}},
		{name: "TLS without verifying", addr: tlsServer.addr, opts: call.DialOptions{Insecure: true}},
		{name: "TLS with an authority in the certificate", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.CAFile, Authority: "greeter"}},
		{name: "mutual TLS", addr: mtlsServer.addr, opts: call.DialOptions{CACert: pki.CAFile, Cert: pki.ClientCertFile, Key: pki.ClientKeyFile}},
		{
			name: "TLS with the system roots", addr: tlsServer.addr, opts: call.DialOptions{TLS: true},
			mentions: []string{"connect to " + tlsServer.addr, "certificate signed by unknown authority"},
		},
		{
			name: "TLS with another CA", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.OtherCAFile},
			mentions: []string{"certificate signed by unknown authority"},
		},
		{
			name: "TLS with an authority not in the certificate", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.CAFile, Authority: "wrong.test"},
			mentions: []string{"wrong.test"},
		},
		{
			name: "mutual TLS without a client certificate", addr: mtlsServer.addr, opts: call.DialOptions{CACert: pki.CAFile},
			mentions: []string{"connect to " + mtlsServer.addr, "client certificate"},
		},
		{
			name: "TLS to a plaintext server", addr: plainServer.addr, opts: call.DialOptions{CACert: pki.CAFile},
			mentions: []string{"connect to " + plainServer.addr, "TLS handshake"},
		},
		{
			name: "plaintext to a TLS server", addr: tlsServer.addr, opts: call.DialOptions{},
			mentions: []string{"connect to " + tlsServer.addr, "does it want TLS?"},
		},
		{
			name: "certificate without key", addr: mtlsServer.addr, opts: call.DialOptions{Cert: pki.ClientCertFile},
			mentions: []string{"both the certificate and the key"},
		},
		{
			name: "missing CA file", addr: tlsServer.addr, opts: call.DialOptions{CACert: filepath.Join(t.TempDir(), "none.pem")},
			mentions: []string{"none.pem"},
		},
		{
			name: "CA file that is not PEM", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.ClientKeyFile},
			mentions: []string{"no PEM certificate"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.ConnectTimeout = 20 * time.Second
			start := time.Now()
			conn, err := call.Dial(testContext(t), tc.addr, tc.opts)
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
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			t.Cleanup(func() { conn.Close() })
			callHello(t, tc.addr, greeterProtoSource(t), tc.opts)
		})
	}
}
