package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrNoRabbitMQ is wrapped by the error NewRabbitMQ returns when no RabbitMQ
// server can be had: RABBITMQ_SERVER is not set and Debian's rabbitmq-server
// is not installed (scripts/install-rabbitmq.sh installs it). RabbitMQ
// reports it by skipping the test, or by failing it when CI is set.
var ErrNoRabbitMQ = errors.New("no rabbitmq server")

// DefaultRabbitMQServer is where Debian's rabbitmq-server package puts the
// script that runs a node in the foreground, as the current user.
const DefaultRabbitMQServer = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// rabbitMQStartTimeout bounds how long a node may take to boot (a few
// seconds usually; longer on a loaded machine).
const rabbitMQStartTimeout = 90 * time.Second

// rabbitMQStopTimeout bounds a graceful stop before the node is killed.
const rabbitMQStopTimeout = 20 * time.Second

// RabbitMQServer is a RabbitMQ node run from the rabbitmq-server script with
// everything on 127.0.0.1: its AMQP listener, its Erlang distribution port
// and its own port mapper (epmd), on ports picked for it. Its HOME (and so
// its Erlang cookie), database, logs and config live in a directory of its
// own. It has one user, with a random password, and the vhost "/".
type RabbitMQServer struct {
	script   string
	root     string
	nodeName string
	user     string
	password string

	pki *PKI // nil: no TLS listener

	mu       sync.Mutex
	amqpPort int
	tlsPort  int
	distPort int
	epmdPort int
	epmd     *exec.Cmd
	epmdDone chan struct{}
	cmd      *exec.Cmd
	exited   chan struct{}
	starts   int
	started  bool // a start succeeded: the ports are the node's
}

// RabbitMQ starts a node for t and stops it when t ends. When no RabbitMQ can
// be had it skips t with the reason, or fails t in CI (InCI): there a
// missing dependency must fail the run. A node takes seconds to start:
// share one with NewRabbitMQ (from TestMain) where the tests allow it.
func RabbitMQ(t testing.TB) *RabbitMQServer {
	t.Helper()
	return rabbitMQ(t, nil)
}

// RabbitMQWithTLS is RabbitMQ with an amqps listener too (TLSURL), its
// certificate from pki (for localhost and 127.0.0.1, signed by pki.CAFile).
func RabbitMQWithTLS(t testing.TB, pki *PKI) *RabbitMQServer {
	t.Helper()
	return rabbitMQ(t, pki)
}

func rabbitMQ(t testing.TB, pki *PKI) *RabbitMQServer {
	t.Helper()
	srv, err := newRabbitMQ(t.TempDir(), pki)
	if err != nil {
		RabbitMQUnavailable(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rabbitmq log (tail):\n%s", srv.LogTail(40))
		}
		srv.Stop()
	})
	return srv
}

// RabbitMQUnavailable ends t for an error from NewRabbitMQ: for one that
// wraps ErrNoRabbitMQ a skip when run by hand and a failure in CI
// (Unavailable), a failure for any other.
func RabbitMQUnavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoRabbitMQ) {
		Unavailable(t, "%v (run scripts/install-rabbitmq.sh, or set RABBITMQ_SERVER to a rabbitmq-server script)", err)
		return
	}
	t.Fatalf("rabbitmq: %v", err)
}

// NewRabbitMQ starts a node that no test owns, keeping its state in dir
// (which must exist and should be short-lived); the caller must Stop it. Use
// it to share one node between the tests of a package. The error wraps
// ErrNoRabbitMQ when no RabbitMQ can be had.
func NewRabbitMQ(dir string) (*RabbitMQServer, error) { return newRabbitMQ(dir, nil) }

func newRabbitMQ(dir string, pki *PKI) (*RabbitMQServer, error) {
	script, err := findRabbitMQServer()
	if err != nil {
		return nil, err
	}
	id := randomHex(4)
	s := &RabbitMQServer{
		script:   script,
		root:     dir,
		nodeName: "rabbit-micro-" + id + "@localhost",
		user:     "micro",
		password: "test-" + randomHex(8),
		pki:      pki,
	}
	for _, sub := range []string{"home", "mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("rabbitmq: %w", err)
		}
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// findRabbitMQServer returns RABBITMQ_SERVER when set, or Debian's script.
func findRabbitMQServer() (string, error) {
	script := os.Getenv("RABBITMQ_SERVER")
	from := "RABBITMQ_SERVER=" + script
	if script == "" {
		script, from = DefaultRabbitMQServer, DefaultRabbitMQServer
	}
	info, err := os.Stat(script)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s is not an executable file", ErrNoRabbitMQ, from)
	}
	return script, nil
}

// URL is the AMQP URL with the node's user, password and the vhost "/":
// amqp://micro:PASSWORD@127.0.0.1:PORT/. It stays the same across Restart.
func (s *RabbitMQServer) URL() string { return s.URLWith(s.user, s.password) }

// TLSURL is the amqps URL of the TLS listener (RabbitMQWithTLS only):
// amqps://micro:PASSWORD@127.0.0.1:PORT/.
func (s *RabbitMQServer) TLSURL() string {
	s.mu.Lock()
	port := s.tlsPort
	s.mu.Unlock()
	u := url.URL{Scheme: "amqps", User: url.UserPassword(s.user, s.password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/"}
	return u.String()
}

// URLWith is the URL with other credentials, for tests of refused ones.
func (s *RabbitMQServer) URLWith(user, password string) string {
	u := url.URL{Scheme: "amqp", User: url.UserPassword(user, password), Host: s.Addr(), Path: "/"}
	return u.String()
}

// Addr is the AMQP listener, 127.0.0.1:PORT.
func (s *RabbitMQServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.amqpPort))
}

// User and Password are the node's credentials.
func (s *RabbitMQServer) User() string     { return s.user }
func (s *RabbitMQServer) Password() string { return s.password }

// Dial opens a plain amqp091-go connection to the node, as any other AMQP
// client would, and closes it when t ends.
func (s *RabbitMQServer) Dial(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(s.URL())
	if err != nil {
		t.Fatalf("dial rabbitmq at %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Stop stops the node (gracefully, then by force) and its port mapper, and
// waits until both have exited. It is safe to call more than once.
func (s *RabbitMQServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopNodeLocked()
	if s.epmd != nil {
		killGroup(s.epmd, syscall.SIGKILL)
		<-s.epmdDone
		s.epmd = nil
	}
}

// Restart stops the node and starts it again on the same ports with the
// same database: durable queues and their persistent messages are back,
// clients see their connections drop and reconnect.
func (s *RabbitMQServer) Restart(t testing.TB) {
	t.Helper()
	s.StopNode()
	if err := s.start(); err != nil {
		t.Fatalf("restart rabbitmq on %s: %v", s.Addr(), err)
	}
}

// StopNode stops the node but keeps its port mapper and its ports, for a
// test that wants the broker gone for a while; Start brings it back.
func (s *RabbitMQServer) StopNode() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopNodeLocked()
}

// Kill ends the node at once with SIGKILL, as a crash would: clients see
// their connections drop without a goodbye. Start brings it back with its
// data (RabbitMQ recovers what it had written).
func (s *RabbitMQServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	killGroup(s.cmd, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Start starts the node again after StopNode or Kill, on the same ports with the
// same database.
func (s *RabbitMQServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("start rabbitmq on %s: %v", s.Addr(), err)
	}
}

func (s *RabbitMQServer) stopNodeLocked() {
	if s.cmd == nil {
		return
	}
	// The Erlang VM stops the node cleanly on SIGTERM.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(rabbitMQStopTimeout):
		killGroup(s.cmd, syscall.SIGKILL)
		<-s.exited
	}
	// Helpers the VM started (erl_child_setup, inet_gethost) share its
	// process group.
	killGroup(s.cmd, syscall.SIGKILL)
	s.cmd = nil
}

func killGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

// start runs the node and waits until it accepts AMQP connections with its
// credentials. The first start picks the ports, and picks others when the
// node does not come up (a port picked can be taken by someone else before
// the node binds it); later starts keep them.
func (s *RabbitMQServer) start() error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = s.startOnce(); lastErr == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return lastErr
}

func (s *RabbitMQServer) startOnce() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	if s.amqpPort == 0 {
		ports, err := freePorts(4)
		if err != nil {
			return err
		}
		s.amqpPort, s.distPort, s.epmdPort, s.tlsPort = ports[0], ports[1], ports[2], ports[3]
	}
	s.starts++
	if err := s.startEPMDLocked(); err != nil {
		s.forgetPortsLocked()
		return err
	}
	if err := s.writeConfig(); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(s.root, fmt.Sprintf("server-%d.out", s.starts)))
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(s.script)
	cmd.Dir = s.root
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = s.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.script, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	if err := s.waitReady(exited); err != nil {
		s.stopNodeLocked()
		err = fmt.Errorf("rabbitmq node %s on 127.0.0.1:%d: %w\nlog (tail):\n%s", s.nodeName, s.amqpPort, err, s.logTailLocked(20))
		s.forgetPortsLocked()
		return err
	}
	s.started = true
	return nil
}

// forgetPortsLocked has the next start pick new ports, unless the node ran
// on these before (clients expect it back there).
func (s *RabbitMQServer) forgetPortsLocked() {
	if s.started {
		return
	}
	if s.epmd != nil {
		killGroup(s.epmd, syscall.SIGKILL)
		<-s.epmdDone
		s.epmd = nil
	}
	s.amqpPort = 0
}

// startEPMDLocked runs a port mapper of the node's own on 127.0.0.1, in the
// foreground as a child of the test, so that Stop can end it: the node
// would otherwise start a daemon that outlives the test.
func (s *RabbitMQServer) startEPMDLocked() error {
	if s.epmd != nil {
		return nil
	}
	bin, err := exec.LookPath("epmd")
	if err != nil {
		bin = "/usr/lib/erlang/bin/epmd"
	}
	cmd := exec.Command(bin, "-address", "127.0.0.1", "-port", strconv.Itoa(s.epmdPort))
	cmd.Env = s.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: start epmd: %v", ErrNoRabbitMQ, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.epmd, s.epmdDone = cmd, done
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.epmdPort))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-done:
			s.epmd = nil
			return fmt.Errorf("epmd on %s exited at once (port taken?)", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("epmd on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeConfig writes the node's config: the listener on 127.0.0.1, the
// user, no guest restrictions to trip over, and no plugins.
func (s *RabbitMQServer) writeConfig() error {
	conf := strings.Join([]string{
		"listeners.tcp.default = 127.0.0.1:" + strconv.Itoa(s.amqpPort),
		"loopback_users = none",
		"default_user = " + s.user,
		"default_pass = " + s.password,
		"default_vhost = /",
		"disk_free_limit.absolute = 10MB",
		"log.console = false",
		"log.file.level = info",
	}, "\n") + "\n"
	if s.pki != nil {
		conf += strings.Join([]string{
			"listeners.ssl.default = 127.0.0.1:" + strconv.Itoa(s.tlsPort),
			"ssl_options.cacertfile = " + s.pki.CAFile,
			"ssl_options.certfile = " + s.pki.ServerCertFile,
			"ssl_options.keyfile = " + s.pki.ServerKeyFile,
			"ssl_options.verify = verify_none",
			"ssl_options.fail_if_no_peer_cert = false",
		}, "\n") + "\n"
	}
	files := map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[].\n",
		"rabbitmq-env.conf": "# empty: the node is configured by its environment, " +
			"not by /etc/rabbitmq/rabbitmq-env.conf\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.root, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("rabbitmq: %w", err)
		}
	}
	return nil
}

// env is the environment of the node and its port mapper: the test's,
// without RABBITMQ_* and ERL_* settings, plus the node's own.
func (s *RabbitMQServer) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RABBITMQ_") || strings.HasPrefix(kv, "ERL_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+filepath.Join(s.root, "home"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(s.root, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(s.root, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(s.root, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(s.root, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(s.root, "log"),
		"RABBITMQ_NODENAME="+s.nodeName,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(s.amqpPort),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(s.distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT="+strconv.Itoa(s.epmdPort),
	)
}

// waitReady waits until an AMQP client can log in.
func (s *RabbitMQServer) waitReady(exited <-chan struct{}) error {
	u := url.URL{Scheme: "amqp", User: url.UserPassword(s.user, s.password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.amqpPort)), Path: "/"}
	deadline := time.Now().Add(rabbitMQStartTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the node exited before it was ready")
		default:
		}
		conn, err := amqp.DialConfig(u.String(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err == nil {
			_ = conn.Close()
			return nil
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %s: %w", rabbitMQStartTimeout, lastErr)
}

// LogTail returns the last lines of the node's log and console output.
func (s *RabbitMQServer) LogTail(lines int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logTailLocked(lines)
}

func (s *RabbitMQServer) logTailLocked(lines int) string {
	var b strings.Builder
	for _, path := range []string{
		filepath.Join(s.root, fmt.Sprintf("server-%d.out", s.starts)),
		filepath.Join(s.root, "log", s.nodeName+".log"),
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(path), lastLines(string(data), lines))
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
