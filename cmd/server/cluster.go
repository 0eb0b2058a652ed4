package server

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/natsserver"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// checkCluster validates the cluster flags: the address and routes are
// host:port, they need a cluster name, and --replicas fits the members.
func checkCluster(opts *Options) error {
	if opts.ClusterName == "" {
		switch {
		case opts.ClusterAddress != "":
			return cmdutil.Usagef("--cluster-address needs --cluster-name")
		case len(opts.Routes) > 0:
			return cmdutil.Usagef("--routes needs --cluster-name")
		case opts.Replicas > 1:
			return cmdutil.Usagef("--replicas %d needs a cluster: give --cluster-name, --cluster-address and --routes", opts.Replicas)
		}
	}
	if opts.ClusterAddress != "" {
		if err := checkAddress(opts.ClusterAddress); err != nil {
			return cmdutil.Usagef("--cluster-address %q: %v", opts.ClusterAddress, err)
		}
	}
	if _, err := natsserver.RouteURLs(opts.Routes); err != nil {
		return cmdutil.Usagef("--routes: %v", err)
	}
	if opts.Replicas < 0 || opts.Replicas > 5 {
		return cmdutil.Usagef("--replicas %d: want 1 to 5", opts.Replicas)
	}
	if n := members(opts); opts.Replicas > n {
		return cmdutil.Usagef("--replicas %d needs as many cluster members; --routes names %d other members", opts.Replicas, n-1)
	}
	return nil
}

// members counts this server and the distinct others that --routes names.
func members(opts *Options) int {
	if opts.ClusterName == "" {
		return 1
	}
	routes, _ := natsserver.RouteURLs(opts.Routes)
	self := opts.ClusterAddress
	if self == "" {
		host, _, _ := net.SplitHostPort(opts.Address)
		self = net.JoinHostPort(host, natsserver.DefaultClusterPort)
	}
	seen := map[string]bool{self: true}
	for _, r := range routes {
		seen[r.Host] = true
	}
	return len(seen)
}

// replicas is the number of copies of the registry bucket to create.
func replicas(opts *Options) int {
	switch {
	case opts.Replicas > 0:
		return opts.Replicas
	case members(opts) >= 3:
		return 3
	default:
		return 1
	}
}

// prepareCluster waits for the cluster's JetStream to elect a leader, then
// makes sure the registry bucket exists with its replicas, so that the
// first client does not create it with fewer. It retries until ctx ends:
// a member started before the others waits for a majority.
func prepareCluster(ctx context.Context, opts *Options, srv *natsserver.Server) {
	want := replicas(opts)
	for ctx.Err() == nil {
		err := srv.WaitJetStream(ctx)
		if err == nil {
			var r *natsregistry.Registry
			openCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err = natsregistry.New(openCtx, natsregistry.WithURL(srv.ClientURL()), natsregistry.WithReplicas(want))
			cancel()
			if err == nil {
				have := r.Replicas()
				_ = r.Close()
				if have < want {
					fmt.Fprintf(opts.IO.ErrOut, "micro server: warning: registry bucket %s has %d replicas, fewer than %d; it was created before the cluster was complete (recreate it with `nats kv` tools to change it)\n", natsregistry.DefaultBucket, have, want)
				} else {
					fmt.Fprintf(opts.IO.ErrOut, "micro server: cluster ready, registry bucket %s with %d replicas\n", natsregistry.DefaultBucket, have)
				}
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
