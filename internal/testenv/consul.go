package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
)

// ErrNoConsul is wrapped by the error NewConsul returns when no Consul agent
// binary can be had: CONSUL_BIN is not set and scripts/install-consul.sh
// could not build one. Consul reports it by skipping the test, or by failing
// it when CI=true.
var ErrNoConsul = errors.New("no consul agent binary")

// consulReadyTimeout bounds how long a started agent may take to elect itself
// leader and register its own node.
const consulReadyTimeout = 30 * time.Second

// consulBinary finds the agent binary once per test process: building it can
// take minutes, and a failed build must not be retried by every test.
var consulBinary = sync.OnceValues(findConsulBinary)

// ConsulAgent is a Consul agent in development mode (one server, state in
// memory) listening on 127.0.0.1 only, on ports picked for it.
type ConsulAgent struct {
	bin  string
	root string // scratch directory: data dirs and logs
	node string
	// managementToken is the ACL bootstrap token when ACLs are on.
	managementToken string

	mu       sync.Mutex
	httpPort int
	serfLAN  int // the serf LAN port of the running agent, for NewClient
	cmd      *exec.Cmd
	exited   chan struct{}
	logPath  string
	starts   int
}

// ConsulOption changes how an agent is started.
type ConsulOption func(*ConsulAgent)

// ConsulACL starts the agent with ACLs enabled and the default policy deny,
// from a config file: a request without a token (or with a token lacking the
// rights) sees nothing and may write nothing. ManagementToken is the
// bootstrap token, which may do everything; the agent uses it for its own
// node too. Create tokens with fewer rights with ACLToken.
func ConsulACL() ConsulOption {
	return func(a *ConsulAgent) { a.managementToken = newUUID() }
}

// Consul starts an agent for t and stops it when t ends. When no agent binary
// can be had it skips t with the reason, or fails t when the CI environment
// variable is "true": in CI a missing dependency must fail the run.
func Consul(t testing.TB, opts ...ConsulOption) *ConsulAgent {
	t.Helper()
	agent, err := NewConsul(t.TempDir(), opts...)
	if err != nil {
		ConsulUnavailable(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consul agent log (tail):\n%s", agent.logTail(40))
		}
		agent.Stop()
	})
	return agent
}

// ConsulUnavailable ends t for an error from NewConsul: a skip when the error
// wraps ErrNoConsul (a failure in CI, see InCI), a failure otherwise.
func ConsulUnavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoConsul) && !InCI() {
		t.Skipf("skipping: %v (set CONSUL_BIN to an agent binary, or let scripts/install-consul.sh build one)", err)
	}
	t.Fatalf("consul agent: %v", err)
}

// NewConsul starts an agent that no test owns, keeping its data and logs in
// dir (which must exist); the caller must Stop it. Use it to share one agent
// between the tests of a package from TestMain. The error wraps ErrNoConsul
// when no agent binary can be had.
func NewConsul(dir string, opts ...ConsulOption) (*ConsulAgent, error) {
	bin, err := consulBinary()
	if err != nil {
		return nil, err
	}
	agent := &ConsulAgent{bin: bin, root: dir, node: "micro-test"}
	for _, opt := range opts {
		opt(agent)
	}
	if agent.managementToken != "" {
		if err := agent.writeACLConfig(); err != nil {
			return nil, err
		}
	}
	if err := agent.start(0); err != nil {
		return nil, err
	}
	return agent, nil
}

// Addr is the agent's HTTP API address, "127.0.0.1:PORT". It stays the same
// across Restart.
func (a *ConsulAgent) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.httpPort))
}

// ManagementToken is the ACL bootstrap token of an agent started with
// ConsulACL, empty otherwise.
func (a *ConsulAgent) ManagementToken() string { return a.managementToken }

// aclConfigFile is the agent config file that ConsulACL writes.
const aclConfigFile = "acl.hcl"

func (a *ConsulAgent) writeACLConfig() error {
	// initial_management is the bootstrap token's name since Consul 1.11;
	// the agent token lets the agent keep its own node in the catalog.
	config := fmt.Sprintf(`acl {
  enabled        = true
  default_policy = "deny"
  tokens {
    initial_management = %[1]q
    agent              = %[1]q
  }
}
`, a.managementToken)
	if err := os.WriteFile(filepath.Join(a.root, aclConfigFile), []byte(config), 0o600); err != nil {
		return fmt.Errorf("consul agent ACL config: %w", err)
	}
	return nil
}

// ACLToken creates, with the management token, a policy of the given rules
// (HCL, such as `service_prefix "" { policy = "read" }`) and a token that
// has it, and returns the token's secret. The agent must run with ConsulACL.
func (a *ConsulAgent) ACLToken(t testing.TB, rules string) string {
	t.Helper()
	if a.managementToken == "" {
		t.Fatal("testenv: ACLToken needs an agent started with ConsulACL")
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	base := "http://" + a.Addr()
	name := "micro-test-" + newUUID()
	var policy struct{ ID string }
	if err := a.putJSON(client, base+"/v1/acl/policy", map[string]any{"Name": name, "Rules": rules}, &policy); err != nil {
		t.Fatalf("testenv: create consul ACL policy: %v", err)
	}
	var token struct{ SecretID string }
	if err := a.putJSON(client, base+"/v1/acl/token", map[string]any{"Description": name, "Policies": []map[string]string{{"ID": policy.ID}}}, &token); err != nil {
		t.Fatalf("testenv: create consul ACL token: %v", err)
	}
	return token.SecretID
}

func (a *ConsulAgent) putJSON(client *http.Client, url string, body, into any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("X-Consul-Token", a.managementToken)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s: %s", url, resp.Status, bytes.TrimSpace(answer))
	}
	return json.Unmarshal(answer, into)
}

// newUUID is a random UUID, the form Consul wants for token secrets.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Stop stops the agent and waits for it to exit. Calling it again does
// nothing.
func (a *ConsulAgent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
}

// Restart stops the agent and starts a new one on the same HTTP port with
// fresh state: everything registered before is gone, as after an agent that
// lost its data directory.
func (a *ConsulAgent) Restart(t testing.TB) {
	t.Helper()
	a.mu.Lock()
	a.stopLocked()
	port := a.httpPort
	a.mu.Unlock()
	if err := a.start(port); err != nil {
		t.Fatalf("restart consul agent on port %d: %v", port, err)
	}
}

func (a *ConsulAgent) stopLocked() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.exited:
	case <-time.After(5 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
	a.cmd = nil
}

// start runs the agent, on httpPort when it is not 0, and waits until it is
// leader with its own node in the catalog. Ports picked here can be taken by
// someone else before the agent binds them, so it tries a few times.
func (a *ConsulAgent) start(httpPort int) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		lastErr = a.startOnce(httpPort)
		if lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (a *ConsulAgent) startOnce(httpPort int) error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	if httpPort == 0 {
		httpPort = ports[0]
	}
	a.mu.Lock()
	a.starts++
	run := a.starts
	a.mu.Unlock()

	dataDir := filepath.Join(a.root, fmt.Sprintf("data-%d", run))
	logPath := filepath.Join(a.root, fmt.Sprintf("agent-%d.log", run))
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("consul agent log: %w", err)
	}
	defer logFile.Close()

	// Everything binds and advertises 127.0.0.1; DNS and gRPC are off; the
	// update check and the UI are off so that nothing leaves loopback.
	args := []string{
		"agent", "-dev",
		"-node", a.node,
		"-bind", "127.0.0.1",
		"-client", "127.0.0.1",
		"-advertise", "127.0.0.1",
		"-advertise-wan", "127.0.0.1",
		"-http-port", strconv.Itoa(httpPort),
		"-dns-port", "-1",
		"-grpc-port", "-1",
		"-grpc-tls-port", "-1",
		"-serf-lan-port", strconv.Itoa(ports[1]),
		"-serf-wan-port", strconv.Itoa(ports[2]),
		"-server-port", strconv.Itoa(ports[3]),
		"-data-dir", dataDir,
		"-log-level", "info",
		"-hcl", "disable_update_check = true",
		"-hcl", "disable_anonymous_signature = true",
		"-hcl", "ui_config { enabled = false }",
		"-hcl", "connect { enabled = false }",
	}
	if a.managementToken != "" {
		args = append(args, "-config-file", filepath.Join(a.root, aclConfigFile))
	}
	cmd := exec.Command(a.bin, args...)
	cmd.Dir = a.root
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = consulEnv()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", a.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	a.mu.Lock()
	a.cmd, a.exited, a.logPath, a.httpPort, a.serfLAN = cmd, exited, logPath, httpPort, ports[1]
	a.mu.Unlock()

	if err := waitConsulReady(httpPort, a.node, a.managementToken, exited); err != nil {
		a.Stop()
		return fmt.Errorf("consul agent on 127.0.0.1:%d: %w\nlog (tail):\n%s", httpPort, err, a.logTail(20))
	}
	return nil
}

// consulEnv is the environment of the agent process: the test's, without the
// CONSUL_* variables that would point it elsewhere.
func consulEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSUL_") {
			env = append(env, kv)
		}
	}
	return env
}

func waitConsulReady(httpPort int, node, token string, exited <-chan struct{}) error {
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	deadline := time.Now().Add(consulReadyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the agent exited before it was ready")
		default:
		}
		lastErr = consulReady(client, base, node, token)
		if lastErr == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %s: %w", consulReadyTimeout, lastErr)
}

// consulReady reports nil once the agent has a leader and its own node is in
// the catalog, so that registrations are synced at once.
func consulReady(client *http.Client, base, node, token string) error {
	var leader string
	if err := getJSON(client, base+"/v1/status/leader", &leader); err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no leader yet")
	}
	var nodes []struct{ Node string }
	if err := getJSONToken(client, base+"/v1/catalog/nodes", token, &nodes); err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Node == node {
			return nil
		}
	}
	return fmt.Errorf("node %s not in the catalog yet", node)
}

// getJSON GETs url and decodes the answer into into.
func getJSON(client *http.Client, url string, into any) error {
	return getJSONToken(client, url, "", into)
}

// getJSONToken GETs url, with token as the Consul ACL token when not empty,
// and decodes the answer into into.
func getJSONToken(client *http.Client, url, token string, into any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, into)
}

func (a *ConsulAgent) logTail(lines int) string {
	a.mu.Lock()
	path := a.logPath
	a.mu.Unlock()
	return tailFile(path, lines)
}

// tailFile is the last lines of the file at path, or why it cannot be read.
func tailFile(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// freePorts returns n distinct ports that are free on 127.0.0.1 for both TCP
// and UDP (Serf uses both) at the time of the call.
func freePorts(n int) ([]int, error) {
	var (
		ports   []int
		closers []io.Closer
	)
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 50 {
			return nil, errors.New("no free ports on 127.0.0.1")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		closers = append(closers, l)
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		closers = append(closers, pc)
		ports = append(ports, port)
	}
	return ports, nil
}

// findConsulBinary returns CONSUL_BIN when set, or the binary that
// scripts/install-consul.sh builds and caches.
func findConsulBinary() (string, error) {
	if bin := os.Getenv("CONSUL_BIN"); bin != "" {
		info, err := os.Stat(bin)
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w: CONSUL_BIN=%s is not an executable file", ErrNoConsul, bin)
		}
		return bin, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoConsul, err)
	}
	script := filepath.Join(root, "scripts", "install-consul.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoConsul, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s failed: %v\n%s", ErrNoConsul, script, err, lastLines(stderr.String(), 20))
	}
	bin := strings.TrimSpace(lastLines(stdout.String(), 1))
	if info, err := os.Stat(bin); err != nil || info.IsDir() {
		return "", fmt.Errorf("%w: %s printed %q, which is not a file", ErrNoConsul, script, bin)
	}
	return bin, nil
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
