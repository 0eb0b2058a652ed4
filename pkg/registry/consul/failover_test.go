package consul_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/consul"
)

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestFailover gives the registry a dead agent first and a live one
// second: every call succeeds through the live one, and the move is
// reported once, not per call.
func TestFailover(t *testing.T) {
	agent := testenv.Consul(t)
	dead := deadAddr(t)
	var mu sync.Mutex
	var moves []consul.Failover
	r, err := consul.New(consul.Address(dead+","+agent.Addr()), consul.OnFailover(func(f consul.Failover) {
		mu.Lock()
		moves = append(moves, f)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.String(); !strings.Contains(s, dead) || !strings.Contains(s, agent.Addr()) {
		t.Errorf("String should name both agents: %s", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc := &registry.Service{Name: "failover", Version: "1", Nodes: []*registry.Node{{ID: "failover-1", Address: "127.0.0.1:1"}}}
	for range 3 {
		if err := r.Register(ctx, svc, registry.WithTTL(time.Minute)); err != nil {
			t.Fatal(err)
		}
		services, err := r.GetService(ctx, "failover")
		if err != nil {
			t.Fatal(err)
		}
		if len(services) != 1 || len(services[0].Nodes) != 1 {
			t.Fatalf("want one node, have %+v", services)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(moves) != 1 {
		t.Fatalf("want one move reported, have %d: %v", len(moves), moves)
	}
	if moves[0].From != dead || moves[0].To != agent.Addr() || moves[0].Err == nil {
		t.Errorf("want a move from %s to %s with its cause, have %+v", dead, agent.Addr(), moves[0])
	}
	if s := moves[0].String(); !strings.Contains(s, "connection refused") {
		t.Errorf("the report should say why: %s", s)
	}
}

// TestFailoverAllDown: with every agent down the error wraps
// registry.ErrUnreachable and names the agents.
func TestFailoverAllDown(t *testing.T) {
	a, b := deadAddr(t), deadAddr(t)
	r, err := consul.New(consul.Address(a + "," + b))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = r.ListServices(ctx)
	if !errors.Is(err, registry.ErrUnreachable) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Fatalf("want an unreachable error naming %s and %s, have %v", a, b, err)
	}
}

func TestAgentListErrors(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:8500,unix:///tmp/consul.sock", "cannot hold a unix socket"},
		{"127.0.0.1:8500,127.0.0.1:port", "bad port"},
		{" , ", "empty agent address"},
	} {
		if _, err := consul.New(consul.Address(tt.addr)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: want an error with %q, have %v", tt.addr, tt.want, err)
		}
	}
}
