package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrNoEtcd is wrapped by the error NewEtcd returns when no etcd server
// binary can be found: ETCD_BIN is not set, and there is none on PATH or at
// /usr/bin/etcd (scripts/install-etcd.sh installs Debian's etcd-server
// there). Etcd reports it by skipping the test, or by failing it when CI is
// "true" or "1".
var ErrNoEtcd = errors.New("no etcd server binary")

// etcdReadyTimeout bounds how long a started server may take to elect
// itself leader and answer its health check.
const etcdReadyTimeout = 30 * time.Second

// EtcdServer is a single-member etcd cluster listening on 127.0.0.1 only, on
// ports picked for it, with its data in a directory of its own.
type EtcdServer struct {
	bin  string
	root string
	// certFile and keyFile make the client URL https.
	certFile, keyFile string
	// With pki set and clientAuth, clients must present a certificate
	// pki's CA signed.
	pki        *PKI
	clientAuth bool
	// name and initialCluster make the server one member of a cluster;
	// empty for a cluster of one.
	name, initialCluster string

	mu         sync.Mutex
	clientPort int
	peerPort   int
	dataDir    string
	cmd        *exec.Cmd
	exited     chan struct{}
	logPath    string
	starts     int
}

// Etcd starts an etcd server for t and stops it when t ends. When no etcd
// binary can be found it skips t with the reason, or fails t in CI (InCI):
// there a missing dependency must fail the run.
func Etcd(t testing.TB) *EtcdServer {
	t.Helper()
	server, err := NewEtcd(t.TempDir())
	if err != nil {
		EtcdUnavailable(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("etcd log (tail):\n%s", server.logTail(30))
		}
		server.Stop()
	})
	return server
}

// EtcdUnavailable ends t for an error from NewEtcd: a skip when the error
// wraps ErrNoEtcd (a failure in CI), a failure otherwise.
func EtcdUnavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoEtcd) && !InCI() {
		t.Skipf("skipping: %v (install it with scripts/install-etcd.sh, or set ETCD_BIN)", err)
	}
	t.Fatalf("etcd server: %v", err)
}

// EtcdTLS is Etcd serving its client URL over TLS with pki's server
// certificate: connect to https://Addr() trusting pki.CAFile.
func EtcdTLS(t testing.TB, pki *PKI) *EtcdServer {
	t.Helper()
	return etcdTLS(t, pki, false)
}

// EtcdMutualTLS is EtcdTLS that also requires clients to present a
// certificate pki's CA signed (pki.ClientCertFile).
func EtcdMutualTLS(t testing.TB, pki *PKI) *EtcdServer {
	t.Helper()
	return etcdTLS(t, pki, true)
}

func etcdTLS(t testing.TB, pki *PKI, clientAuth bool) *EtcdServer {
	t.Helper()
	bin, err := findEtcdBinary()
	if err != nil {
		EtcdUnavailable(t, err)
	}
	server := &EtcdServer{bin: bin, root: t.TempDir(), certFile: pki.ServerCertFile, keyFile: pki.ServerKeyFile, pki: pki, clientAuth: clientAuth}
	if err := server.start(false); err != nil {
		t.Fatalf("etcd server: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("etcd log (tail):\n%s", server.logTail(30))
		}
		server.Stop()
	})
	return server
}

// EnableAuth turns etcd's authentication on with the user root (role root)
// and password: from then on every client must log in as root.
func (s *EtcdServer) EnableAuth(t testing.TB, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client for %s: %v", s.Addr(), err)
	}
	defer client.Close()
	if _, err := client.UserAdd(ctx, "root", password); err != nil {
		t.Fatalf("etcd: add user root: %v", err)
	}
	if _, err := client.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatalf("etcd: grant role root: %v", err)
	}
	if _, err := client.AuthEnable(ctx); err != nil {
		t.Fatalf("etcd: enable auth: %v", err)
	}
}

// NewEtcd starts a server that no test owns, keeping its data and logs in
// dir (which must exist); the caller must Stop it. The error wraps ErrNoEtcd
// when no etcd binary can be found.
func NewEtcd(dir string) (*EtcdServer, error) {
	bin, err := findEtcdBinary()
	if err != nil {
		return nil, err
	}
	s := &EtcdServer{bin: bin, root: dir}
	if err := s.start(false); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the client address, "127.0.0.1:PORT". It stays the same across
// Restart.
func (s *EtcdServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.clientPort))
}

// Stop stops the server and waits for it to exit. Calling it again does
// nothing. The data directory is kept for Restart.
func (s *EtcdServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Start starts a stopped server again on the same ports with the data it
// had.
func (s *EtcdServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(false); err != nil {
		t.Fatalf("start etcd again on %s: %v", s.Addr(), err)
	}
}

// Restart stops the server and starts it again on the same ports. With
// wipe the data directory is replaced by an empty one, as after a member
// that lost its disk: every key, lease and revision is gone.
func (s *EtcdServer) Restart(t testing.TB, wipe bool) {
	t.Helper()
	s.Stop()
	if err := s.start(wipe); err != nil {
		t.Fatalf("restart etcd on %s: %v", s.Addr(), err)
	}
}

func (s *EtcdServer) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// start runs the server, on the ports it had when it ran before, with a new
// data directory when wipe is set or it never ran. Ports picked here can be
// taken by someone else before etcd binds them, so a first start tries a
// few times.
func (s *EtcdServer) start(wipe bool) error {
	s.mu.Lock()
	first := s.clientPort == 0
	s.mu.Unlock()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if first {
			ports, err := freePorts(2)
			if err != nil {
				return err
			}
			s.mu.Lock()
			s.clientPort, s.peerPort = ports[0], ports[1]
			s.mu.Unlock()
		}
		lastErr = s.startOnce(wipe || first)
		if lastErr == nil {
			return nil
		}
		if !first {
			// A restart keeps its ports: give the old process's sockets
			// time to go rather than picking others.
			time.Sleep(500 * time.Millisecond)
		}
	}
	return lastErr
}

func (s *EtcdServer) startOnce(wipe bool) error {
	clientURL, exited, err := s.launch(wipe)
	if err != nil {
		return err
	}
	return s.awaitReady(clientURL, exited)
}

// launch starts the etcd process and returns its client URL.
func (s *EtcdServer) launch(wipe bool) (string, <-chan struct{}, error) {
	s.mu.Lock()
	s.starts++
	run := s.starts
	if wipe || s.dataDir == "" {
		s.dataDir = filepath.Join(s.root, fmt.Sprintf("data-%d", run))
	}
	scheme := "http"
	if s.certFile != "" {
		scheme = "https"
	}
	clientURL := fmt.Sprintf("%s://127.0.0.1:%d", scheme, s.clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", s.peerPort)
	dataDir := s.dataDir
	name, cluster := s.name, s.initialCluster
	if name == "" {
		name, cluster = "micro-test", "micro-test="+peerURL
	}
	s.mu.Unlock()

	logPath := filepath.Join(s.root, fmt.Sprintf("etcd-%d.log", run))
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", nil, fmt.Errorf("etcd log: %w", err)
	}
	defer logFile.Close()

	args := []string{
		"--name", name,
		"--data-dir", dataDir,
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", cluster,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "micro-test",
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
	if s.certFile != "" {
		args = append(args, "--cert-file", s.certFile, "--key-file", s.keyFile)
		if s.clientAuth {
			args = append(args, "--client-cert-auth", "--trusted-ca-file", s.pki.CAFile)
		}
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.root
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = etcdEnv()
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited, s.logPath = cmd, exited, logPath
	s.mu.Unlock()
	return clientURL, exited, nil
}

// awaitReady waits for the server launch started to be healthy, and stops
// it when it does not become so.
func (s *EtcdServer) awaitReady(clientURL string, exited <-chan struct{}) error {
	probeTLS := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the probe only asks for /health
	if s.clientAuth {
		cert, err := tls.LoadX509KeyPair(s.pki.ClientCertFile, s.pki.ClientKeyFile)
		if err != nil {
			s.Stop()
			return fmt.Errorf("etcd probe: client certificate: %w", err)
		}
		probeTLS.Certificates = []tls.Certificate{cert}
	}
	if err := waitEtcdReady(clientURL, probeTLS, exited); err != nil {
		s.Stop()
		return fmt.Errorf("etcd on %s: %w\nlog (tail):\n%s", clientURL, err, s.logTail(20))
	}
	return nil
}

// EtcdCluster is several etcd servers forming one cluster on 127.0.0.1.
type EtcdCluster struct {
	Members []*EtcdServer
}

// NewEtcdCluster starts a cluster of n members for t and stops it when t
// ends. Each member can be stopped and started again on its own. It skips
// or fails t as Etcd does when no etcd binary can be found.
func NewEtcdCluster(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	bin, err := findEtcdBinary()
	if err != nil {
		EtcdUnavailable(t, err)
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	c := &EtcdCluster{}
	var peers []string
	for i := range n {
		name := fmt.Sprintf("member-%d", i)
		peers = append(peers, fmt.Sprintf("%s=http://127.0.0.1:%d", name, ports[2*i+1]))
		c.Members = append(c.Members, &EtcdServer{bin: bin, root: t.TempDir(), name: name, clientPort: ports[2*i], peerPort: ports[2*i+1]})
	}
	for _, m := range c.Members {
		m.initialCluster = strings.Join(peers, ",")
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			if t.Failed() {
				t.Logf("etcd %s log (tail):\n%s", m.name, m.logTail(15))
			}
			m.Stop()
		}
	})
	// Every member must run before any can be healthy: a leader needs a
	// quorum.
	urls := make([]string, n)
	exits := make([]<-chan struct{}, n)
	for i, m := range c.Members {
		if urls[i], exits[i], err = m.launch(true); err != nil {
			t.Fatalf("etcd cluster: %v", err)
		}
	}
	for i, m := range c.Members {
		if err := m.awaitReady(urls[i], exits[i]); err != nil {
			t.Fatalf("etcd cluster: %v", err)
		}
	}
	return c
}

// Addrs is the client addresses of every member, comma-separated.
func (c *EtcdCluster) Addrs() string {
	addrs := make([]string, len(c.Members))
	for i, m := range c.Members {
		addrs[i] = m.Addr()
	}
	return strings.Join(addrs, ",")
}

// etcdEnv is the environment of the server: the test's, without ETCD_*
// variables, which etcd reads as flags.
func etcdEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitEtcdReady waits until GET /health says the member is healthy (with
// auth on, etcd counts "permission denied" as healthy too).
func waitEtcdReady(clientURL string, probeTLS *tls.Config, exited <-chan struct{}) error {
	// The readiness probe only asks for /health; it does not check the
	// certificate of a TLS server, which the tests do.
	transport := &http.Transport{Proxy: nil, TLSClientConfig: probeTLS}
	client := &http.Client{Transport: transport, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(etcdReadyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("etcd exited before it was ready")
		default:
		}
		var health struct {
			Health string `json:"health"`
		}
		lastErr = getJSON(client, clientURL+"/health", &health)
		if lastErr == nil && health.Health == "true" {
			return nil
		}
		if lastErr == nil {
			lastErr = fmt.Errorf("health %q", health.Health)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %s: %w", etcdReadyTimeout, lastErr)
}

func (s *EtcdServer) logTail(lines int) string {
	s.mu.Lock()
	path := s.logPath
	s.mu.Unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(string(data), lines)
}

// findEtcdBinary returns ETCD_BIN when set, else etcd on PATH or
// /usr/bin/etcd. Tests do not install anything; the Makefile runs
// scripts/install-etcd.sh and passes ETCD_BIN.
func findEtcdBinary() (string, error) {
	if bin := os.Getenv("ETCD_BIN"); bin != "" {
		info, err := os.Stat(bin)
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w: ETCD_BIN=%s is not an executable file", ErrNoEtcd, bin)
		}
		return bin, nil
	}
	if bin, err := exec.LookPath("etcd"); err == nil {
		return bin, nil
	}
	const debian = "/usr/bin/etcd"
	if info, err := os.Stat(debian); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
		return debian, nil
	}
	return "", fmt.Errorf("%w: ETCD_BIN is not set and etcd is not on PATH", ErrNoEtcd)
}

// EtcdVersion is the output of `etcd --version`, for test logs.
func (s *EtcdServer) EtcdVersion() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin, "--version")
	cmd.Stdout = &out
	_ = cmd.Run()
	first, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	return first
}
