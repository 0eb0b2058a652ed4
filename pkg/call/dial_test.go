package call_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/microtools/micro/pkg/call"
)

// testPKI is a certificate authority with a server and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile                string
	serverCert            tls.Certificate
	clientCert, clientKey string
	pool                  *x509.CertPool
	otherCAFile           string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := newCA(t, "micro test CA")
	_, _, otherDER := newCA(t, "another CA")
	pki := &testPKI{
		caFile:      writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER),
		otherCAFile: writePEM(t, filepath.Join(dir, "other-ca.pem"), "CERTIFICATE", otherDER),
		pool:        x509.NewCertPool(),
	}
	pki.pool.AddCert(caCert)

	serverKey, serverDER := newLeaf(t, caKey, caCert, "greeter", x509.ExtKeyUsageServerAuth)
	pki.serverCert = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}

	clientKey, clientDER := newLeaf(t, caKey, caCert, "client", x509.ExtKeyUsageClientAuth)
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pki.clientCert = writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", clientDER)
	pki.clientKey = writePEM(t, filepath.Join(dir, "client-key.pem"), "EC PRIVATE KEY", keyDER)
	return pki
}

func newCA(t *testing.T, name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

// newLeaf issues a certificate for 127.0.0.1 and greeter.test.
func newLeaf(t *testing.T, caKey *ecdsa.PrivateKey, ca *x509.Certificate, name string, usage x509.ExtKeyUsage) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"greeter.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func writePEM(t *testing.T, path, kind string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDialTLS(t *testing.T) {
	pki := newTestPKI(t)
	tlsServer := startGreeter(t, false, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pki.serverCert},
		MinVersion:   tls.VersionTLS12,
	})))
	mtlsServer := startGreeter(t, false, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pki.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.pool,
		MinVersion:   tls.VersionTLS12,
	})))
	plainServer := startGreeter(t, false)

	tests := []struct {
		name     string
		addr     string
		opts     call.DialOptions
		mentions []string // of the error; none: Dial and a call succeed
	}{
		{name: "TLS with the CA", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.caFile}},
		{name: "TLS without verifying", addr: tlsServer.addr, opts: call.DialOptions{Insecure: true}},
		{name: "TLS with an authority in the certificate", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.caFile, Authority: "greeter.test"}},
		{name: "mutual TLS", addr: mtlsServer.addr, opts: call.DialOptions{CACert: pki.caFile, Cert: pki.clientCert, Key: pki.clientKey}},
		{
			name: "TLS with the system roots", addr: tlsServer.addr, opts: call.DialOptions{TLS: true},
			mentions: []string{"connect to " + tlsServer.addr, "certificate signed by unknown authority"},
		},
		{
			name: "TLS with another CA", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.otherCAFile},
			mentions: []string{"certificate signed by unknown authority"},
		},
		{
			name: "TLS with an authority not in the certificate", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.caFile, Authority: "wrong.test"},
			mentions: []string{"wrong.test"},
		},
		{
			name: "mutual TLS without a client certificate", addr: mtlsServer.addr, opts: call.DialOptions{CACert: pki.caFile},
			mentions: []string{"connect to " + mtlsServer.addr, "client certificate"},
		},
		{
			name: "TLS to a plaintext server", addr: plainServer.addr, opts: call.DialOptions{CACert: pki.caFile},
			mentions: []string{"connect to " + plainServer.addr, "TLS handshake"},
		},
		{
			name: "plaintext to a TLS server", addr: tlsServer.addr, opts: call.DialOptions{},
			mentions: []string{"connect to " + tlsServer.addr, "does it want TLS?"},
		},
		{
			name: "certificate without key", addr: mtlsServer.addr, opts: call.DialOptions{Cert: pki.clientCert},
			mentions: []string{"both the certificate and the key"},
		},
		{
			name: "missing CA file", addr: tlsServer.addr, opts: call.DialOptions{CACert: filepath.Join(t.TempDir(), "none.pem")},
			mentions: []string{"none.pem"},
		},
		{
			name: "CA file that is not PEM", addr: tlsServer.addr, opts: call.DialOptions{CACert: pki.clientKey},
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
