package cmdutil

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Registry = (*deferredRegistry)(nil)

// deferredRegistry is a registry that connects on first use
// (Factory.RegistryToRead), in the goroutine of that use: a command that
// reads the registry once does, before it needs the registry, what needs
// none (client.Prepare opens a connection to the node it called last time
// and reads descriptors from the cache meanwhile). Its methods give the
// connection's error when it failed.
type deferredRegistry struct {
	connect func() (registry.Registry, error)

	mu     sync.Mutex
	tried  bool
	closed bool
	reg    registry.Registry
	err    error
}

// errClosedBeforeUse is the error of a deferred registry used after Close.
var errClosedBeforeUse = errors.New("registry: closed")

// get connects once and returns the registry, or the connection's error.
func (d *deferredRegistry) get() (registry.Registry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.tried {
		d.tried = true
		if d.closed {
			d.err = errClosedBeforeUse
		} else {
			d.reg, d.err = d.connect()
		}
	}
	return d.reg, d.err
}

func (d *deferredRegistry) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	r, err := d.get()
	if err != nil {
		return err
	}
	return r.Register(ctx, svc, opts...)
}

func (d *deferredRegistry) Deregister(ctx context.Context, svc *registry.Service) error {
	r, err := d.get()
	if err != nil {
		return err
	}
	return r.Deregister(ctx, svc)
}

func (d *deferredRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	r, err := d.get()
	if err != nil {
		return nil, err
	}
	return r.GetService(ctx, name, opts...)
}

func (d *deferredRegistry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	r, err := d.get()
	if err != nil {
		return nil, err
	}
	return r.ListServices(ctx)
}

func (d *deferredRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	r, err := d.get()
	if err != nil {
		return nil, err
	}
	return r.Watch(ctx, opts...)
}

// String names the registry (connecting to it, if no use did yet).
func (d *deferredRegistry) String() string {
	r, err := d.get()
	if err != nil {
		return "registry (not connected: " + err.Error() + ")"
	}
	return r.String()
}

// Close closes the registry if it was connected to.
func (d *deferredRegistry) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if c, ok := d.reg.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// RegistryConnectError is the error of the connection to the registry that
// RegistryToRead deferred, once it has failed; nil before it was tried,
// once it is made, and for every other registry. A command whose call
// failed gives it rather than the error of the read that made it: it says
// the same in fewer words.
func RegistryConnectError(reg registry.Registry) error {
	d, ok := reg.(*deferredRegistry)
	if !ok {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}
