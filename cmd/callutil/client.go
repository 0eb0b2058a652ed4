package callutil

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
)

// Runtime is what a calling command takes from the factory.
type Runtime struct {
	IO       *iostreams.IOStreams
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	Config   func() (config.Config, error)
}

// NewRuntime takes what calling commands need from f.
func NewRuntime(f *cmdutil.Factory, output func() string) Runtime {
	return Runtime{IO: f.IO, Registry: f.Registry, Output: output, Config: f.Config}
}

// Timeout is the --timeout in force.
func (r Runtime) Timeout() time.Duration {
	cfg, err := r.Config()
	if err != nil || cfg.Timeout <= 0 {
		return config.DefaultTimeout
	}
	return cfg.Timeout
}

// lookupEnv is the environment the command was given.
func (r Runtime) lookupEnv(key string) (string, bool) {
	cfg, err := r.Config()
	if err != nil || cfg.Env == nil {
		return "", false
	}
	return cfg.Env(key)
}

// TimeoutSet tells whether MICRO_TIMEOUT is set, for commands that have no
// time limit unless asked for one.
func (r Runtime) TimeoutSet() bool {
	v, ok := r.lookupEnv(config.EnvTimeout)
	return ok && v != ""
}

// CacheDir is where descriptors are cached: micro/descriptors in the user
// cache directory ($XDG_CACHE_HOME, or $HOME/.cache, as the injected
// environment says).
func (r Runtime) CacheDir() (string, error) {
	dir, err := cmdutil.CacheDir(r.lookupEnv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "micro", "descriptors"), nil
}

// NewClient builds the client a command calls through: the registry (none
// with --address), descriptors from --proto or --protoset or else
// reflection with the cache, TLS, timeouts and retries. warn is told of
// problems that do not stop the call, such as a cache that cannot be
// written. reflectHeaders go on the reflection requests (-H and
// --reflect-header).
func NewClient(ctx context.Context, rt Runtime, conn *ConnectionFlags, desc *DescriptorFlags, reflectHeaders metadata.MD, warn func(string)) (*client.Client, error) {
	opts := call.ClientOptions{
		Address:           conn.Address,
		Dial:              conn.DialOptions(),
		Retries:           conn.Retries,
		Refresh:           desc.Refresh,
		ReflectionHeaders: reflectHeaders,
	}
	if conn.Retries == 0 {
		opts.Retries = -1
	}
	src, err := FixedSource(ctx, desc)
	switch {
	case err != nil:
		return nil, err
	case src != nil:
		opts.Source = src
	case !desc.NoCache:
		dir, err := rt.CacheDir()
		if err != nil {
			warn(fmt.Sprintf("no descriptor cache: %v", err))
		}
		opts.CacheDir = dir
		opts.OnCacheWriteError = func(err error) { warn(err.Error()) }
	}
	if conn.Address == "" {
		reg, err := rt.Registry(ctx)
		if err != nil {
			return nil, err
		}
		opts.Registry = reg
		// One call, or a few: fetching the nodes once is cheaper than a
		// watch started and stopped.
		opts.SelectorOptions = []selector.Option{selector.NoWatch()}
	}
	return NamedClient(opts, conn)
}

// FixedSource is the source --proto or --protoset give, or nil when neither
// is given (the servers are asked through reflection).
func FixedSource(ctx context.Context, desc *DescriptorFlags) (call.DescriptorSource, error) {
	switch {
	case len(desc.Protos) > 0 && len(desc.Protosets) > 0:
		return nil, cmdutil.Usagef("give --proto or --protoset, not both")
	case len(desc.Protos) > 0:
		src, err := call.NewProtoSource(ctx, desc.ImportPaths, desc.Protos...)
		if err != nil {
			return nil, cmdutil.WithHint(err, "check the --proto files, and that --import-path names the directories they and their imports are in")
		}
		return src, nil
	case len(desc.Protosets) > 0:
		return call.NewProtosetSource(desc.Protosets...)
	}
	return nil, nil
}
