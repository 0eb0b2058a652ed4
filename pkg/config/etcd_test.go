package config

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/etcd"
)

func TestNewRegistryEtcd(t *testing.T) {
	server := testenv.Etcd(t)
	server.EnableAuth(t, "pw")
	var (
		mu       sync.Mutex
		warnings []error
	)
	cfg, err := FromEnv(func(k string) (string, bool) {
		v, ok := map[string]string{
			EnvRegistry: "etcd", EnvRegistryAddress: server.Addr(), EnvEtcdLayout: "micro,gozero",
			EnvRegistryUser: "root", EnvRegistryPassword: "pw",
		}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.RegistryWarn = func(err error) {
		mu.Lock()
		warnings = append(warnings, err)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := cfg.NewRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.(io.Closer).Close()
	if have := r.String(); have != "etcd at "+server.Addr() {
		t.Errorf("String: %q", have)
	}
	raw := r.(*etcd.Registry).Client()
	put := func(key, value string) {
		t.Helper()
		if _, err := raw.Put(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	put("zero.rpc/1", "127.0.0.1:9000")
	put("/microservices/k/1", `{"id":"1","name":"k","endpoints":["grpc://127.0.0.1:1"]}`) // kratos is not read
	put("/micro/services/bad/1", "{")
	services, err := r.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != 1 || services[0].Name != "zero.rpc" {
		t.Errorf("with layouts micro,gozero want only zero.rpc, have %+v", services)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "/micro/services/bad/1") {
		t.Errorf("want one warning about the bad record, have %v", warnings)
	}
}

func TestNewRegistryEtcdUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := Config{Registry: RegistryEtcd, RegistryAddress: addr, Timeout: 30 * time.Second}
	start := time.Now()
	_, err = cfg.NewRegistry(context.Background())
	if !errors.Is(err, registry.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("want ErrUnreachable naming %s, have %v", addr, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("an unreachable etcd took %s to report (timeout 30s)", took)
	}
}
