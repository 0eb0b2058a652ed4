package cmdutil

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// A deferred registry connects once, on its first use, and gives every
// use the connection's error when it failed.
func TestDeferredRegistry(t *testing.T) {
	ctx := context.Background()
	refused := errors.New("connection refused")
	tests := []struct {
		name    string
		connect func() (registry.Registry, error)
		wantErr error
	}{
		{"connects", func() (registry.Registry, error) { return memory.New(), nil }, nil},
		{"fails", func() (registry.Registry, error) { return nil, refused }, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			connects := 0
			d := &deferredRegistry{connect: func() (registry.Registry, error) {
				connects++
				return tt.connect()
			}}
			if connects != 0 || RegistryConnectError(d) != nil {
				t.Fatalf("before any use: want no connection and no error, have %d connections, %v", connects, RegistryConnectError(d))
			}
			_, getErr := d.GetService(ctx, "greeter")
			_, listErr := d.ListServices(ctx)
			if connects != 1 {
				t.Errorf("want one connection for every use, have %d", connects)
			}
			if tt.wantErr != nil {
				for _, err := range []error{getErr, listErr, RegistryConnectError(d)} {
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("want the connection's error, have %v", err)
					}
				}
				return
			}
			if !errors.Is(getErr, registry.ErrNotFound) || listErr != nil || RegistryConnectError(d) != nil {
				t.Errorf("want the registry's answers (not found, an empty list) and no connection error, have %v, %v, %v", getErr, listErr, RegistryConnectError(d))
			}
		})
	}
}

// A deferred registry closed before any use never connects.
func TestDeferredRegistryClosedBeforeUse(t *testing.T) {
	d := &deferredRegistry{connect: func() (registry.Registry, error) {
		t.Error("connected after Close")
		return memory.New(), nil
	}}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetService(context.Background(), "greeter"); err == nil {
		t.Error("want an error from a registry closed before use")
	}
}

// RegistryConnectError says nothing of a registry that is not deferred.
func TestRegistryConnectErrorOfOtherRegistries(t *testing.T) {
	if err := RegistryConnectError(memory.New()); err != nil {
		t.Errorf("want nil, have %v", err)
	}
}

// RegistryToRead returns at once, even for a registry that cannot be
// reached; its first use gives the error Registry would have given, and
// Registry then returns the same registry.
func TestRegistryToReadConnectsOnFirstUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	cfg := config.Config{Registry: config.RegistryNATS, RegistryAddress: closed, Timeout: 5 * time.Second}
	f := &Factory{Config: func() (config.Config, error) { return cfg, nil }}
	t.Cleanup(func() { _ = f.Close() })
	reg, err := f.RegistryToRead(context.Background())
	if err != nil {
		t.Fatalf("RegistryToRead: want no error before the first use, have %v", err)
	}
	_, err = reg.GetService(context.Background(), "greeter")
	if !errors.Is(err, registry.ErrUnreachable) {
		t.Errorf("first use: want an error wrapping registry.ErrUnreachable, have %v", err)
	}
	if connectErr := RegistryConnectError(reg); connectErr == nil || connectErr.Error() != err.Error() {
		t.Errorf("RegistryConnectError: want %v, have %v", err, connectErr)
	}
	if again, err := f.Registry(context.Background()); err != nil || again != reg {
		t.Errorf("Registry after RegistryToRead: want the same registry, have %v, %v", again, err)
	}
}
