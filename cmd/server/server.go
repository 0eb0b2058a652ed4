// Package server implements `micro server`: the embedded NATS server with
// JetStream that is the default registry and broker.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/natsserver"
)

// DefaultAddress is where `micro server` listens and where every command
// looks for it.
const DefaultAddress = "127.0.0.1:4222"

// Options are the inputs of `micro server`.
type Options struct {
	IO      *iostreams.IOStreams
	Address string
	DataDir string
	// Name is the server name; empty derives one from the cluster address
	// in a cluster, else "micro".
	Name string
	// ClusterName, ClusterAddress and Routes make the server a cluster
	// member; see natsserver.ClusterOptions.
	ClusterName    string
	ClusterAddress string
	Routes         []string
	// Replicas is the number of copies of the registry bucket; zero means
	// 3 with three or more members, else 1.
	Replicas int
}

// NewCmdServer returns `micro server`. runF replaces the run function in tests.
func NewCmdServer(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the local registry and broker (embedded NATS with JetStream)",
		Long: `Run an embedded NATS server with JetStream. It is the default registry
and broker of every micro command and every service built with micro, so a
laptop needs nothing else installed. Stop it with Ctrl-C.

Registry records and durable streams are kept in the data directory and
survive a restart.

With --cluster-name, --cluster-address and --routes the server is a member
of a NATS cluster: JetStream is clustered over the members, each known by
its --name (by default derived from its cluster address) and keeping its
own data directory. With three or more members the registry bucket is
created with 3 replicas (--replicas), and the streams that micro creates
get 3 replicas too, so the registry and durable subscriptions survive the
loss of any one member.`,
		Example: `  micro server
  micro server --address 127.0.0.1:4333 --data-dir /tmp/micro
  MICRO_REGISTRY_ADDRESS=127.0.0.1:4333 micro list services

  # a three-member cluster on one machine (run each line in its own terminal)
  micro server --address 127.0.0.1:4222 --data-dir /tmp/m1 --cluster-name micro --cluster-address 127.0.0.1:6222 --routes 127.0.0.1:6223,127.0.0.1:6224
  micro server --address 127.0.0.1:4223 --data-dir /tmp/m2 --cluster-name micro --cluster-address 127.0.0.1:6223 --routes 127.0.0.1:6222,127.0.0.1:6224
  micro server --address 127.0.0.1:4224 --data-dir /tmp/m3 --cluster-name micro --cluster-address 127.0.0.1:6224 --routes 127.0.0.1:6222,127.0.0.1:6223
  MICRO_REGISTRY_ADDRESS=127.0.0.1:4222,127.0.0.1:4223,127.0.0.1:4224 micro list services`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkAddress(opts.Address); err != nil {
				return cmdutil.Usagef("--address %q: %v", opts.Address, err)
			}
			if err := checkCluster(opts); err != nil {
				return err
			}
			if opts.DataDir == "" {
				dir, err := DefaultDataDir(f.Env)
				if err != nil {
					return err
				}
				opts.DataDir = dir
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Address, "address", DefaultAddress, "host:port to listen on")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "where JetStream keeps its data (default $XDG_DATA_HOME/micro/server); one per cluster member")
	cmd.Flags().StringVar(&opts.Name, "name", "", "server name, unique in a cluster (default derived from --cluster-address)")
	cmd.Flags().StringVar(&opts.ClusterName, "cluster-name", "", "join a NATS cluster of this name (the same on every member)")
	cmd.Flags().StringVar(&opts.ClusterAddress, "cluster-address", "", "host:port of this member's route listener (default host of --address, port 6222)")
	cmd.Flags().StringSliceVar(&opts.Routes, "routes", nil, "route addresses (host:port) of the other members, comma-separated")
	cmd.Flags().IntVar(&opts.Replicas, "replicas", 0, "copies of the registry bucket (default 3 with three or more members, else 1)")
	return cmd
}

// DefaultDataDir is $XDG_DATA_HOME/micro/server, or
// $HOME/.local/share/micro/server, in the environment lookupEnv reads.
func DefaultDataDir(lookupEnv cmdutil.LookupEnv) (string, error) {
	dir, err := cmdutil.DataDir(lookupEnv)
	if err != nil {
		return "", cmdutil.Usagef("no data directory: %w; give one with --data-dir", err)
	}
	return filepath.Join(dir, "micro", "server"), nil
}

// checkAddress accepts host:port with a port number; the host may be
// empty (every interface).
func checkAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, such as 127.0.0.1:4222")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a port number", port)
	}
	return nil
}

func run(ctx context.Context, opts *Options) error {
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return fmt.Errorf("server: data directory: %w", err)
	}
	srv, err := natsserver.Start(ctx, natsserver.Options{
		Address:    opts.Address,
		DataDir:    opts.DataDir,
		ServerName: opts.Name,
		Cluster: natsserver.ClusterOptions{
			Name:    opts.ClusterName,
			Address: opts.ClusterAddress,
			Routes:  opts.Routes,
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "micro server: registry and broker listening on %s (data in %s); Ctrl-C to stop\n", srv.ClientURL(), opts.DataDir)
	if srv.ClusterName() != "" {
		fmt.Fprintf(opts.IO.ErrOut, "micro server: member %s of cluster %s, routes on %s, %d other members configured\n", srv.Name(), srv.ClusterName(), srv.ClusterAddr(), members(opts)-1)
		go prepareCluster(ctx, opts, srv)
	}
	<-ctx.Done()
	fmt.Fprintln(opts.IO.ErrOut, "micro server: stopping")
	srv.Shutdown()
	fmt.Fprintln(opts.IO.ErrOut, "micro server: stopped")
	return nil
}
