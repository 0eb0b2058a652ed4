package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ConsulClient is a Consul client agent (`consul agent` without -server)
// joined to a ConsulAgent, as every host of a Consul deployment runs one:
// the services registered through it are kept in its own data directory,
// synced to the server's catalog under its own node name, and checked by it.
type ConsulClient struct {
	node     string
	httpPort int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// NewClient starts a client agent named node that joins a, keeping its data
// and log in dir (which must exist), and waits until it sees the leader
// and its node is in the catalog; the caller must Stop it. The agent a
// must not have been started with ConsulACL.
func (a *ConsulAgent) NewClient(dir, node string) (*ConsulClient, error) {
	if a.managementToken != "" {
		return nil, errors.New("testenv: consul client agents join agents without ACLs only")
	}
	a.mu.Lock()
	join := net.JoinHostPort("127.0.0.1", strconv.Itoa(a.serfLAN))
	a.mu.Unlock()
	c := &ConsulClient{node: node}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = c.startOnce(a.bin, dir, join, attempt); lastErr == nil {
			return c, nil
		}
	}
	return nil, lastErr
}

func (c *ConsulClient) startOnce(bin, dir, join string, attempt int) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", c.node, attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("consul client agent log: %w", err)
	}
	defer logFile.Close()
	// A client agent has no server port of its own, but is given a free one
	// so that it never reaches for the default.
	args := []string{
		"agent",
		"-node", c.node,
		"-bind", "127.0.0.1",
		"-client", "127.0.0.1",
		"-advertise", "127.0.0.1",
		"-http-port", strconv.Itoa(ports[0]),
		"-dns-port", "-1",
		"-grpc-port", "-1",
		"-grpc-tls-port", "-1",
		"-serf-lan-port", strconv.Itoa(ports[1]),
		"-serf-wan-port", "-1",
		"-server-port", strconv.Itoa(ports[2]),
		"-data-dir", filepath.Join(dir, fmt.Sprintf("%s-data-%d", c.node, attempt)),
		"-retry-join", join,
		"-log-level", "warn",
		"-hcl", "disable_update_check = true",
		"-hcl", "disable_anonymous_signature = true",
		"-hcl", "ui_config { enabled = false }",
		"-hcl", "connect { enabled = false }",
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = consulEnv()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	c.mu.Lock()
	c.cmd, c.exited, c.logPath, c.httpPort = cmd, exited, logPath, ports[0]
	c.mu.Unlock()
	if err := waitConsulReady(ports[0], c.node, "", exited); err != nil {
		c.Stop()
		return fmt.Errorf("consul client agent %s on 127.0.0.1:%d: %w\nlog (tail):\n%s", c.node, ports[0], err, tailFile(logPath, 20))
	}
	return nil
}

// Addr is the client agent's HTTP API address, "127.0.0.1:PORT".
func (c *ConsulClient) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.httpPort))
}

// Node is the client agent's node name in the catalog.
func (c *ConsulClient) Node() string { return c.node }

// Stop stops the client agent and waits for it to exit. Calling it again
// does nothing.
func (c *ConsulClient) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}
