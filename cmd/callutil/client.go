package callutil

import (
	"context"
	"fmt"

	"google.golang.org/grpc/metadata"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/selector"
)

// NewClient builds the client a command calls through: the registry (none
// with --address), descriptors from --proto or --protoset or else
// reflection with the cache, TLS, timeouts and retries. warn is told of
// problems that do not stop the call, such as a cache that cannot be
// written. reflectHeaders go on the reflection requests (-H and
// --reflect-header).
func NewClient(ctx context.Context, f *cmdutil.Factory, conn *ConnectionFlags, desc *DescriptorFlags, reflectHeaders metadata.MD, warn func(string)) (*client.Client, error) {
	opts := client.Options{
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
		dir, err := f.DescriptorCacheDir()
		if err != nil {
			warn(fmt.Sprintf("no descriptor cache: %v", err))
		}
		opts.CacheDir = dir
		opts.OnCacheWriteError = func(err error) { warn(err.Error()) }
		// The node of the next call, kept next to the descriptors, for
		// Client.Prepare to connect to while the registry is read.
		opts.RememberNodes = conn.Address == "" && dir != ""
	}
	if conn.Address == "" {
		// One call, or a few: fetching the nodes once is cheaper than a
		// watch started and stopped, and the registry needs no more than
		// a connection for that.
		opts.SelectorOptions = []selector.Option{selector.NoWatch()}
		reg, err := f.RegistryToRead(ctx)
		if err != nil {
			return nil, err
		}
		opts.Registry = reg
	}
	return f.Client(ctx, ClientOptions(opts, conn))
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
