package testenv

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/natsserver"
)

// NATSCluster is several embedded NATS servers forming one cluster on
// 127.0.0.1, with JetStream clustered over them. Each member has its own
// client and route ports and its own store, and can be stopped and started
// again on them.
type NATSCluster struct {
	Name    string
	Members []*NATSMember
}

// NATSMember is one server of a NATSCluster.
type NATSMember struct {
	cluster    string
	name       string
	clientAddr string
	routeAddr  string
	routes     []string
	dataDir    string

	mu  sync.Mutex
	srv *natsserver.Server // nil while stopped
}

// NewNATSCluster starts a cluster of n embedded servers for t, waits until
// their JetStream has a leader, and shuts them down when t ends.
func NewNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	return NewPartialNATSCluster(t, n, n)
}

// NewPartialNATSCluster is NewNATSCluster with only the first running of
// the n members started, as when a cluster's members come up one by one;
// Restart starts the others. running must be a majority of n for JetStream
// to elect its leader.
func NewPartialNATSCluster(t testing.TB, n, running int) *NATSCluster {
	t.Helper()
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	c := &NATSCluster{Name: "micro-test"}
	var routes []string
	for i := range n {
		routes = append(routes, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*i+1])))
	}
	for i := range n {
		c.Members = append(c.Members, &NATSMember{
			cluster:    c.Name,
			name:       fmt.Sprintf("member-%d", i),
			clientAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*i])),
			routeAddr:  routes[i],
			routes:     routes,
			dataDir:    t.TempDir(),
		})
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.Stop()
		}
	})
	// Start every member before waiting on any: JetStream needs a
	// majority to elect its leader.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range c.Members[:running] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.start()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("nats cluster: %v", err)
		}
	}
	c.WaitReady(t)
	return c
}

// URLs is the client URLs of every member, comma-separated.
func (c *NATSCluster) URLs() string {
	urls := make([]string, len(c.Members))
	for i, m := range c.Members {
		urls[i] = m.URL()
	}
	return strings.Join(urls, ",")
}

// WaitReady waits until every running member's JetStream follows a leader.
func (c *NATSCluster) WaitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), natsStartTimeout)
	defer cancel()
	for _, m := range c.Members {
		m.mu.Lock()
		srv := m.srv
		m.mu.Unlock()
		if srv == nil {
			continue
		}
		if err := srv.WaitJetStream(ctx); err != nil {
			t.Fatalf("nats cluster: %v", err)
		}
	}
}

// Name is the member's server name.
func (m *NATSMember) Name() string { return m.name }

// URL is the member's client URL; it stays the same across Restart.
func (m *NATSMember) URL() string { return "nats://" + m.clientAddr }

// Addr is the member's client address, host:port.
func (m *NATSMember) Addr() string { return m.clientAddr }

// RouteAddr is the member's route address, host:port.
func (m *NATSMember) RouteAddr() string { return m.routeAddr }

// DataDir is the member's JetStream store, kept across Restart.
func (m *NATSMember) DataDir() string { return m.dataDir }

// Stop shuts the member down. It is safe to call more than once.
func (m *NATSMember) Stop() {
	m.mu.Lock()
	srv := m.srv
	m.srv = nil
	m.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

// Restart stops the member if it runs and starts it again on its ports
// with its store: it rejoins the cluster as itself.
func (m *NATSMember) Restart(t testing.TB) {
	t.Helper()
	m.Stop()
	deadline := time.Now().Add(natsStartTimeout)
	for {
		err := m.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats cluster: restart %s: %v", m.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *NATSMember) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), natsStartTimeout)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Options{
		Address:    m.clientAddr,
		DataDir:    m.dataDir,
		ServerName: m.name,
		Cluster: natsserver.ClusterOptions{
			Name:    m.cluster,
			Address: m.routeAddr,
			Routes:  m.routes,
		},
	})
	if err != nil {
		return err
	}
	m.srv = srv
	return nil
}

// Routes is the number of other members this member is connected to; 0
// while it is stopped.
func (m *NATSMember) Routes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv == nil {
		return 0
	}
	return m.srv.Routes()
}
