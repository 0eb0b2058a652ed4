// Package health implements `micro health SERVICE`.
package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	grpctransport "github.com/microtools/micro/pkg/transport/grpc"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/transport"
	httptransport "github.com/microtools/micro/pkg/transport/http"
)

// Statuses other than the grpc.health.v1 ones.
const (
	// StatusUnreachable: the node could not be connected to.
	StatusUnreachable = "UNREACHABLE"
	// StatusUnimplemented: the node does not serve grpc.health.v1.
	StatusUnimplemented = "UNIMPLEMENTED"
	// StatusError: the check failed otherwise.
	StatusError = "ERROR"
)

// Options are the inputs of `micro health`.
type Options struct {
	Factory    *cmdutil.Factory
	Connection callutil.ConnectionFlags
	Headers    callutil.HeaderFlags

	Service string
	// HealthService is the name checked in grpc.health.v1; empty checks
	// the server as a whole.
	HealthService string
}

// NewCmdHealth returns `micro health`. runF replaces the run function in
// tests.
func NewCmdHealth(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "health SERVICE",
		Short: "Check every node of a service with grpc.health.v1",
		Long: `Check every registered node of a service, healthy in the registry or not,
with the standard gRPC health check (grpc.health.v1.Health/Check), all at
once, and print one row per node: its ID, address, version and status
(SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, or UNREACHABLE when it
cannot be connected to).

It exits 0 only when every node is SERVING, and 1 otherwise. --service
checks one gRPC service by name instead of the server as a whole. -H
sends metadata with each check (credentials of servers that check them).`,
		Example: `  micro health greeter
  micro health greeter --service greeter.v1.Greeter
  micro health greeter -o json | jq '.[] | select(.status != "SERVING")'
  micro health greeter --address 127.0.0.1:50051
  micro health greeter -H authorization:'Bearer t0k3n'`,
		Args:              cmdutil.ExactArgs(1, "a service name"),
		ValidArgsFunction: cmdutil.CompleteServiceNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Service = args[0]
			if err := opts.Headers.Validate(); err != nil {
				return err
			}
			if err := opts.Connection.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return healthRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.HealthService, "service", "", "the gRPC service to check, such as greeter.v1.Greeter (default: the server as a whole)")
	opts.Connection.Bind(cmd.Flags())
	opts.Headers.Bind(cmd.Flags())
	_ = cmd.Flags().MarkHidden("retries")
	_ = cmd.Flags().MarkHidden("reflect-header") // health uses no reflection
	return cmd
}

// NodeHealth is the health of one node, as -o json writes it.
type NodeHealth struct {
	Node    string `json:"node"`
	Address string `json:"address"`
	Version string `json:"version,omitempty"`
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
}

func healthRun(ctx context.Context, opts *Options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Factory.Timeout())
	defer cancel()
	headers, err := opts.Headers.RPC()
	if err != nil {
		return err
	}
	if len(headers) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, headers)
	}
	nodes, err := listNodes(ctx, opts)
	if err != nil {
		return err
	}

	results := make([]NodeHealth, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			results[i] = check(ctx, opts, n)
		})
	}
	wg.Wait()

	ios := opts.Factory.IO
	if opts.Factory.Output() == cmdutil.OutputJSON {
		if err := cmdutil.WriteJSON(ios.Out, results); err != nil {
			return err
		}
	} else {
		table := cmdutil.NewTable(ios, opts.Factory.Output(), "NODE", "ADDRESS", "VERSION", "STATUS", "ERROR")
		for _, r := range results {
			table.AddRow(r.Node, r.Address, orDash(r.Version), r.Status, orDash(r.Error))
		}
		if err := table.Render(); err != nil {
			return err
		}
	}

	failing := 0
	for _, r := range results {
		if r.Status != healthpb.HealthCheckResponse_SERVING.String() {
			failing++
		}
	}
	if failing > 0 {
		return fmt.Errorf("health of %s: %d of %d nodes not serving", opts.Service, failing, len(results))
	}
	return nil
}

// node is a node to check and the version it registered.
type node struct {
	*registry.Node
	version string
}

// listNodes returns every node of the service, failing ones included, or
// the --address alone.
func listNodes(ctx context.Context, opts *Options) ([]node, error) {
	if opts.Connection.Address != "" {
		return []node{{Node: &registry.Node{ID: "-", Address: opts.Connection.Address}}}, nil
	}
	reg, err := opts.Factory.Registry(ctx)
	if err != nil {
		return nil, err
	}
	services, err := reg.GetService(ctx, opts.Service, registry.IncludeUnhealthy())
	if errors.Is(err, registry.ErrNotFound) {
		return nil, cmdutil.WithHint(fmt.Errorf("health of %s: %w", opts.Service, err), "see what is registered with `micro list services`")
	}
	if err != nil {
		return nil, err
	}
	var nodes []node
	for _, svc := range services {
		for _, n := range svc.Nodes {
			nodes = append(nodes, node{Node: n, version: svc.Version})
		}
	}
	slices.SortFunc(nodes, func(a, b node) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return nodes, nil
}

// check asks one node for its health.
func check(ctx context.Context, opts *Options, n node) NodeHealth {
	result := NodeHealth{Node: n.ID, Address: n.Address, Version: n.version}
	if kind := client.KindOf(n.Node); kind != client.KindGRPC {
		// go-micro's mucp has no health service: reaching the node is
		// all that can be checked.
		return checkMucp(ctx, opts, n, result)
	}
	conn, err := grpctransport.Dial(ctx, n.Address, opts.Connection.DialOptions())
	if err != nil {
		result.Status, result.Error = StatusUnreachable, err.Error()
		return result
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: opts.HealthService})
	switch status.Code(err) {
	case codes.OK:
		result.Status = resp.GetStatus().String()
	case codes.Unimplemented:
		result.Status, result.Error = StatusUnimplemented, "the node does not serve grpc.health.v1"
	case codes.NotFound:
		result.Status, result.Error = healthpb.HealthCheckResponse_SERVICE_UNKNOWN.String(), fmt.Sprintf("no health status for %q", opts.HealthService)
	case codes.Unavailable:
		result.Status, result.Error = StatusUnreachable, status.Convert(err).Message()
	default:
		result.Status, result.Error = StatusError, status.Convert(err).Message()
	}
	return result
}

// checkMucp checks a node of a go-micro service (mucp over http): SERVING
// when it answers an HTTP request at all, unreachable otherwise.
func checkMucp(ctx context.Context, opts *Options, n node, result NodeHealth) NodeHealth {
	conn, err := httptransport.New(httptransport.Options{ConnectTimeout: opts.Connection.ConnectTimeout}).Dial(ctx, n.Address)
	if err == nil {
		defer conn.Close()
		_, err = conn.Call(ctx, &transport.Request{Service: opts.Service, Endpoint: "Health.Check", ContentType: "application/json", Body: []byte("{}")})
	}
	var te *transport.Error
	switch {
	case err == nil || errors.As(err, &te) && te.Code != codes.Unavailable:
		// An error answer (no such endpoint) is an answer: the node runs.
		result.Status = healthpb.HealthCheckResponse_SERVING.String()
		result.Error = "go-micro mucp node: it answers, but has no grpc.health.v1"
	default:
		result.Status, result.Error = StatusUnreachable, err.Error()
	}
	return result
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
