package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
)

// Factory builds what commands need, lazily, from the global flags: nothing
// connects to a registry until a command asks for one, so `micro version` and
// `micro --help` cost nothing.
type Factory struct {
	IO *iostreams.IOStreams

	// Config returns the resolved global settings (flag > env > file >
	// default). It is valid once flags are parsed.
	Config func() (config.Config, error)

	// Env is the environment cmd.Run was given; directories (config,
	// cache, data) are found through it, never through the process's.
	Env LookupEnv

	mu       sync.Mutex
	registry registry.Registry
	broker   broker.Broker
	closers  []io.Closer
}

// Registry connects to the configured registry once and returns it on every
// later call.
func (f *Factory) Registry(ctx context.Context) (registry.Registry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.registry != nil {
		return f.registry, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	if cfg.RegistryWarn == nil && f.IO != nil {
		errOut := f.IO.ErrOut
		cfg.RegistryWarn = func(err error) { fmt.Fprintf(errOut, "micro: warning: %v\n", err) }
	}
	r, err := cfg.NewRegistry(ctx)
	if err != nil {
		return nil, err
	}
	if c, ok := r.(io.Closer); ok {
		f.closers = append(f.closers, c)
	}
	f.registry = r
	return r, nil
}

// Broker connects to the configured broker once and returns it on every
// later call. opts (credentials, TLS, an event handler, backend options) go
// to config.NewBroker after the configured ones, on the first call only.
func (f *Factory) Broker(ctx context.Context, opts ...config.BrokerOption) (broker.Broker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broker != nil {
		return f.broker, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	b, err := cfg.NewBroker(ctx, opts...)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, b)
	f.broker = b
	return b, nil
}

// Close releases every connection the factory opened.
func (f *Factory) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for i := len(f.closers) - 1; i >= 0; i-- {
		errs = append(errs, f.closers[i].Close())
	}
	f.closers = nil
	f.registry = nil
	f.broker = nil
	return errors.Join(errs...)
}

// RegistryTokenHint is what to try when the Consul registry refused or hid a
// read for lack of rights.
const RegistryTokenHint = "give a token with the rights needed: --registry-token, MICRO_REGISTRY_TOKEN, CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE"

// RegistryError adds what to try to an error that says the registry cannot
// be reached or refused the request. Other errors are returned as they are.
func RegistryError(cfg config.Config, err error) error {
	var hinted *HintError
	if errors.As(err, &hinted) {
		return err
	}
	if errors.Is(err, registry.ErrPermissionDenied) && cfg.Registry == config.RegistryConsul {
		return WithHint(err, RegistryTokenHint)
	}
	if !errors.Is(err, registry.ErrUnreachable) {
		return err
	}
	switch cfg.Registry {
	case config.RegistryNATS:
		return WithHint(err, "start the embedded registry with `micro server`, or choose another with --registry consul --registry-address HOST:PORT")
	case config.RegistryConsul:
		return WithHint(err, "check that a Consul agent listens there (CONSUL_HTTP_ADDR or --registry-address), or use the embedded default: `micro server` and --registry nats")
	case config.RegistryEtcd:
		return WithHint(err, "check that etcd listens there (--registry-address HOST:2379, a comma-separated list for a cluster; https:// or --registry-tls-ca for TLS), or use the embedded default: `micro server` and --registry nats")
	}
	return err
}

// HintError is an error with advice on what to try next.
type HintError struct {
	Err  error
	Hint string
}

// WithHint wraps err with advice.
func WithHint(err error, hint string) error { return &HintError{Err: err, Hint: hint} }

func (e *HintError) Error() string { return fmt.Sprintf("%v; %s", e.Err, e.Hint) }
func (e *HintError) Unwrap() error { return e.Err }

// WithTimeout bounds ctx by the configured --timeout.
func (f *Factory) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	cfg, err := f.Config()
	if err != nil || cfg.Timeout <= 0 {
		return context.WithTimeout(ctx, config.DefaultTimeout)
	}
	return context.WithTimeout(ctx, cfg.Timeout)
}
