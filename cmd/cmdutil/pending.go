package cmdutil

import (
	"context"
	"io"

	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Registry = (*pendingRegistry)(nil)

// pendingRegistry is a registry whose connection is being made in the
// background (Factory.RegistryToRead): its methods wait for it, then go to
// the registry, or give the connection's error. A command that reads the
// registry once meanwhile does what needs no registry: opening a
// connection to the node it called last time, reading descriptors from
// the cache.
type pendingRegistry struct {
	done chan struct{} // closed once the connection is made or failed
	reg  registry.Registry
	err  error
}

// connectInBackground starts connect and returns the registry that waits
// for it.
func connectInBackground(connect func() (registry.Registry, error)) *pendingRegistry {
	p := &pendingRegistry{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.reg, p.err = connect()
	}()
	return p
}

// wait returns the registry once connected, or the error of the
// connection, or ctx's when it ends first.
func (p *pendingRegistry) wait(ctx context.Context) (registry.Registry, error) {
	select {
	case <-p.done:
		return p.reg, p.err
	default:
	}
	select {
	case <-p.done:
		return p.reg, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pendingRegistry) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	r, err := p.wait(ctx)
	if err != nil {
		return err
	}
	return r.Register(ctx, svc, opts...)
}

func (p *pendingRegistry) Deregister(ctx context.Context, svc *registry.Service) error {
	r, err := p.wait(ctx)
	if err != nil {
		return err
	}
	return r.Deregister(ctx, svc)
}

func (p *pendingRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	r, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return r.GetService(ctx, name, opts...)
}

func (p *pendingRegistry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	r, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return r.ListServices(ctx)
}

func (p *pendingRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	r, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return r.Watch(ctx, opts...)
}

// String names the registry once connected (it waits for that).
func (p *pendingRegistry) String() string {
	<-p.done
	if p.reg == nil {
		return "registry (not connected)"
	}
	return p.reg.String()
}

// Close waits for the connection and closes it.
func (p *pendingRegistry) Close() error {
	<-p.done
	if c, ok := p.reg.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// RegistryConnectError is the error of the connection to the registry that
// RegistryToRead began, once it has failed; nil while it is being made,
// once it is made, and for every other registry. A command whose call
// failed gives it rather than the error of the read that waited for it:
// it says the same in fewer words.
func RegistryConnectError(reg registry.Registry) error {
	p, ok := reg.(*pendingRegistry)
	if !ok {
		return nil
	}
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}
