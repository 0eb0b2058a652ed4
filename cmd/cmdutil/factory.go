package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
)

// Factory builds what commands need, lazily, from the global flags: nothing
// connects to a registry until a command asks for one, so `micro version` and
// `micro --help` cost nothing. It is the one way commands get their
// dependencies: streams, settings, output format, registry, broker and the
// client that calls services.
type Factory struct {
	IO *iostreams.IOStreams

	// OutputFormat returns the -o value after flags, environment and
	// config file ("" when none was given). Read it through Output.
	OutputFormat func() string

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
	return f.registryOf(ctx, false)
}

// RegistryToRead is Registry for the commands that read the registry and
// exit (call, stream, describe). It returns at once: the connection is
// made by the first use of the registry (whose error is the connection's
// when it failed; see RegistryConnectError), so that the command first
// begins what needs no registry (client.Prepare). The NATS
// registry only connects, and finds its bucket at the first operation that
// needs it, so that a read one direct get answers is the one request it
// makes. Whichever of Registry and RegistryToRead comes first builds the
// registry both return.
func (f *Factory) RegistryToRead(ctx context.Context) (registry.Registry, error) {
	return f.registryOf(ctx, true)
}

func (f *Factory) registryOf(ctx context.Context, lazy bool) (registry.Registry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.registry != nil {
		return f.registry, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	cfg.RegistryLazyOpen = lazy
	if cfg.RegistryWarn == nil && f.IO != nil {
		errOut := f.IO.ErrOut
		cfg.RegistryWarn = func(err error) { fmt.Fprintf(errOut, "micro: warning: %v\n", err) }
	}
	if lazy {
		d := &deferredRegistry{connect: func() (registry.Registry, error) { return cfg.NewRegistry(ctx) }}
		f.closers = append(f.closers, d)
		f.registry = d
		return d, nil
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

// Output is the -o format in force: OutputJSON, OutputText, OutputTable,
// or "" for the default (a table on a terminal, text otherwise).
func (f *Factory) Output() string {
	if f.OutputFormat == nil {
		return ""
	}
	return f.OutputFormat()
}

// Timeout is the --timeout in force.
func (f *Factory) Timeout() time.Duration {
	cfg, err := f.Config()
	if err != nil || cfg.Timeout <= 0 {
		return config.DefaultTimeout
	}
	return cfg.Timeout
}

// TimeoutSet tells whether MICRO_TIMEOUT is set, for commands that have no
// time limit unless asked for one.
func (f *Factory) TimeoutSet() bool {
	v, ok := f.lookupEnv(config.EnvTimeout)
	return ok && v != ""
}

// DescriptorCacheDir is where descriptors are cached: micro/descriptors in
// the user cache directory ($XDG_CACHE_HOME, or $HOME/.cache, as the
// injected environment says).
func (f *Factory) DescriptorCacheDir() (string, error) {
	dir, err := CacheDir(f.lookupEnv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "micro", "descriptors"), nil
}

// lookupEnv is the environment the command was given.
func (f *Factory) lookupEnv(key string) (string, bool) {
	cfg, err := f.Config()
	if err == nil && cfg.Env != nil {
		return cfg.Env(key)
	}
	if f.Env != nil {
		return f.Env(key)
	}
	return "", false
}

// EnvList is the environment variable key of the command's environment
// split at commas, for a flag that takes a list; nil when it is not set.
func (f *Factory) EnvList(key string) []string {
	if f.Config == nil {
		return nil
	}
	if v, ok := f.lookupEnv(key); ok {
		return strings.Split(v, ",")
	}
	return nil
}

// Client builds the client that calls services by name (pkg/client) with
// opts; without opts.Registry or opts.Address it finds services in the
// configured registry. The factory closes it with the rest; closing it
// before is allowed.
func (f *Factory) Client(ctx context.Context, opts client.Options) (*client.Client, error) {
	if opts.Registry == nil && opts.Selector == nil && opts.Address == "" {
		reg, err := f.Registry(ctx)
		if err != nil {
			return nil, err
		}
		opts.Registry = reg
	}
	c, err := client.New(opts)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.closers = append(f.closers, c)
	f.mu.Unlock()
	return c, nil
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
