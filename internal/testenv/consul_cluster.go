package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ConsulCluster is several Consul servers forming one cluster on
// 127.0.0.1 (`consul agent -server -bootstrap-expect N`), each with its own
// ports and data directory, so that any one can be killed and started
// again.
type ConsulCluster struct {
	Members []*ConsulServer
}

// ConsulServer is one server agent of a ConsulCluster.
type ConsulServer struct {
	bin, root, node string
	httpPort        int
	serfLANPort     int
	serfWANPort     int
	serverPort      int
	join            []string // serf LAN addresses of the others
	expect          int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	starts  int
}

// NewConsulCluster starts n Consul servers for t, waits until they have
// elected a leader and all n are in the catalog, and stops them when t
// ends. It skips or fails t as Consul does when no agent binary can be had.
func NewConsulCluster(t testing.TB, n int) *ConsulCluster {
	t.Helper()
	bin, err := consulBinary()
	if err != nil {
		ConsulUnavailable(t, err)
	}
	ports, err := freePorts(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	c := &ConsulCluster{}
	for i := range n {
		c.Members = append(c.Members, &ConsulServer{
			bin: bin, root: t.TempDir(), node: fmt.Sprintf("consul-%d", i),
			httpPort: ports[4*i], serfLANPort: ports[4*i+1], serfWANPort: ports[4*i+2], serverPort: ports[4*i+3],
			expect: n,
		})
	}
	for i, m := range c.Members {
		for j, other := range c.Members {
			if i != j {
				m.join = append(m.join, net.JoinHostPort("127.0.0.1", strconv.Itoa(other.serfLANPort)))
			}
		}
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			if t.Failed() {
				t.Logf("consul %s log (tail):\n%s", m.node, m.logTail(15))
			}
			m.Stop()
		}
	})
	for _, m := range c.Members {
		if err := m.launch(); err != nil {
			t.Fatalf("consul cluster: %v", err)
		}
	}
	for _, m := range c.Members {
		if err := m.awaitReady(n); err != nil {
			t.Fatalf("consul cluster: %v", err)
		}
	}
	return c
}

// Addrs is the HTTP API addresses of every member, comma-separated.
func (c *ConsulCluster) Addrs() string {
	addrs := make([]string, len(c.Members))
	for i, m := range c.Members {
		addrs[i] = m.Addr()
	}
	return strings.Join(addrs, ",")
}

// Leader is the member that is the cluster's leader now, asked of the
// running members; nil when none knows one.
func (c *ConsulCluster) Leader() *ConsulServer {
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		var leader string
		if err := getJSON(client, "http://"+m.Addr()+"/v1/status/leader", &leader); err != nil || leader == "" {
			continue
		}
		for _, l := range c.Members {
			if leader == net.JoinHostPort("127.0.0.1", strconv.Itoa(l.serverPort)) {
				return l
			}
		}
	}
	return nil
}

// Node is the member's node name.
func (m *ConsulServer) Node() string { return m.node }

// Addr is the member's HTTP API address, "127.0.0.1:PORT", the same across
// restarts.
func (m *ConsulServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.httpPort))
}

// Running reports whether the member's process runs.
func (m *ConsulServer) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Kill ends the member with SIGKILL, as a crash would, and waits for the
// process to go. Its data directory is kept.
func (m *ConsulServer) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// Stop stops the member gracefully and waits for it to exit.
func (m *ConsulServer) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// Start starts a stopped or killed member again on its ports with its data
// directory, and waits until it is back in the cluster.
func (m *ConsulServer) Start(t testing.TB) {
	t.Helper()
	if err := m.launch(); err != nil {
		t.Fatalf("consul %s: %v", m.node, err)
	}
	if err := m.awaitReady(m.expect); err != nil {
		t.Fatalf("consul %s: %v", m.node, err)
	}
}

func (m *ConsulServer) launch() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	m.starts++
	m.logPath = filepath.Join(m.root, fmt.Sprintf("agent-%d.log", m.starts))
	logFile, err := os.Create(m.logPath)
	if err != nil {
		return fmt.Errorf("consul agent log: %w", err)
	}
	defer logFile.Close()
	// As in startOnce: loopback only, DNS and gRPC off, nothing phones
	// home. raft_multiplier 1 makes a new leader come within seconds.
	args := []string{
		"agent", "-server",
		"-bootstrap-expect", strconv.Itoa(m.expect),
		"-node", m.node,
		"-bind", "127.0.0.1",
		"-client", "127.0.0.1",
		"-advertise", "127.0.0.1",
		"-advertise-wan", "127.0.0.1",
		"-http-port", strconv.Itoa(m.httpPort),
		"-dns-port", "-1",
		"-grpc-port", "-1",
		"-grpc-tls-port", "-1",
		"-serf-lan-port", strconv.Itoa(m.serfLANPort),
		"-serf-wan-port", strconv.Itoa(m.serfWANPort),
		"-server-port", strconv.Itoa(m.serverPort),
		"-data-dir", filepath.Join(m.root, "data"),
		"-log-level", "info",
		"-hcl", "disable_update_check = true",
		"-hcl", "disable_anonymous_signature = true",
		"-hcl", "ui_config { enabled = false }",
		"-hcl", "connect { enabled = false }",
		"-hcl", "performance { raft_multiplier = 1 }",
	}
	for _, j := range m.join {
		args = append(args, "-retry-join", j)
	}
	cmd := exec.Command(m.bin, args...)
	cmd.Dir = m.root
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = consulEnv()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	m.cmd, m.exited = cmd, exited
	return nil
}

// awaitReady waits until the member knows a leader and sees n server nodes
// in the catalog.
func (m *ConsulServer) awaitReady(n int) error {
	m.mu.Lock()
	exited := m.exited
	m.mu.Unlock()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	base := "http://" + m.Addr()
	deadline := time.Now().Add(2 * consulReadyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready; log (tail):\n%s", m.node, m.logTail(20))
		default:
		}
		lastErr = func() error {
			var leader string
			if err := getJSON(client, base+"/v1/status/leader", &leader); err != nil {
				return err
			}
			if leader == "" {
				return fmt.Errorf("no leader yet")
			}
			var nodes []struct{ Node string }
			if err := getJSON(client, base+"/v1/catalog/nodes", &nodes); err != nil {
				return err
			}
			if len(nodes) < n {
				return fmt.Errorf("%d of %d servers in the catalog", len(nodes), n)
			}
			return nil
		}()
		if lastErr == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s at %s not ready within %s: %w; log (tail):\n%s", m.node, base, 2*consulReadyTimeout, lastErr, m.logTail(20))
}

func (m *ConsulServer) logTail(lines int) string {
	m.mu.Lock()
	path := m.logPath
	m.mu.Unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(string(data), lines)
}
