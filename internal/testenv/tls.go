package testenv

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
	"testing"
	"time"
)

// PKI is a certificate authority with a server and a client certificate
// it signed, written as PEM files in a temporary directory of the test. The
// server certificate is valid for 127.0.0.1, localhost and "greeter".
type PKI struct {
	CAFile                        string
	ServerCertFile, ServerKeyFile string
	ClientCertFile, ClientKeyFile string
	// OtherCAFile is a CA that signed neither certificate.
	OtherCAFile string

	server tls.Certificate
	pool   *x509.CertPool
}

// NewPKI makes a PKI valid for an hour.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := newCA(t, "micro test CA")
	_, otherCert := newCA(t, "another CA")
	p := &PKI{
		CAFile:      writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caCert.Raw),
		OtherCAFile: writePEM(t, filepath.Join(dir, "other-ca.pem"), "CERTIFICATE", otherCert.Raw),
		pool:        x509.NewCertPool(),
	}
	p.pool.AddCert(caCert)
	p.ServerCertFile, p.ServerKeyFile = newLeaf(t, dir, "server", caKey, caCert, x509.ExtKeyUsageServerAuth)
	p.ClientCertFile, p.ClientKeyFile = newLeaf(t, dir, "client", caKey, caCert, x509.ExtKeyUsageClientAuth)
	server, err := tls.LoadX509KeyPair(p.ServerCertFile, p.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	p.server = server
	return p
}

// ServerConfig is the TLS configuration of a server with the server
// certificate; with requireClientCert it is mutual TLS: clients must
// present a certificate the CA signed.
func (p *PKI) ServerConfig(requireClientCert bool) *tls.Config {
	config := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		config.ClientAuth = tls.RequireAndVerifyClientCert
		config.ClientCAs = p.pool
	}
	return config
}

func newCA(t testing.TB, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
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
	return key, cert
}

// newLeaf writes a certificate signed by the CA and its key, and returns
// their files.
func newLeaf(t testing.TB, dir, name string, caKey *ecdsa.PrivateKey, caCert *x509.Certificate, usage x509.ExtKeyUsage) (certFile, keyFile string) {
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
		DNSNames:     []string{"localhost", "greeter"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der),
		writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", keyDER)
}

func writePEM(t testing.TB, path, blockType string, der []byte) string {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
