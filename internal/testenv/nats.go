package testenv

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/natsserver"
)

// natsStartTimeout bounds the start of an embedded NATS server, and the wait
// for its port to be free again on Restart.
const natsStartTimeout = 30 * time.Second

// NATSServer is an embedded NATS server with JetStream on 127.0.0.1, its
// store in a temporary directory of the test.
type NATSServer struct {
	dataDir string

	mu   sync.Mutex
	srv  *natsserver.Server // nil while stopped
	addr string             // fixed after the first start, so Restart keeps the port
	url  string
}

// NATS starts an embedded NATS server with JetStream on 127.0.0.1 and a
// free port, with its store in t.TempDir(), and shuts it down when t ends.
func NATS(t testing.TB) *NATSServer {
	t.Helper()
	s := &NATSServer{dataDir: t.TempDir(), addr: "127.0.0.1:0"}
	if err := s.start(); err != nil {
		t.Fatalf("embedded nats: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL, nats://127.0.0.1:PORT. It stays the same across
// Restart.
func (s *NATSServer) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// DataDir is the JetStream store directory, kept across Restart.
func (s *NATSServer) DataDir() string { return s.dataDir }

// Stop shuts the server down and waits until it has. Clients see the
// connection drop. It is safe to call more than once.
func (s *NATSServer) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

// Restart stops the server if it runs and starts it again on the same port
// with the same store, as a server restart would: clients reconnect and find
// their data.
func (s *NATSServer) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	deadline := time.Now().Add(natsStartTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		// The port can be held for a moment after the shutdown.
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("embedded nats: restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *NATSServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), natsStartTimeout)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Options{
		Address:    s.addr,
		DataDir:    s.dataDir,
		ServerName: "micro-test",
	})
	if err != nil {
		return err
	}
	s.srv, s.addr, s.url = srv, srv.Addr(), srv.ClientURL()
	return nil
}
