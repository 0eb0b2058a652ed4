// Package deregister implements `micro deregister service`.
package deregister

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
)

// Options are the inputs of `micro deregister service`.
type Options struct {
	IO       *iostreams.IOStreams
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	Context  func(context.Context) (context.Context, context.CancelFunc)

	Name    string
	ID      string
	Address string
}

// NewCmdDeregister returns `micro deregister`. runF replaces the run function in tests.
func NewCmdDeregister(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deregister <command>",
		Short: "Remove a node from the registry",
		Args:  cmdutil.NoArgs,
	}
	opts := &Options{IO: f.IO, Registry: f.Registry, Output: f.Output, Context: f.WithTimeout}
	service := &cobra.Command{
		Use:   "service",
		Short: "Remove one node of a service, by node ID or by address",
		Long: `Remove the nodes of a service that have the given ID or address, and
print each one removed: name, node ID and address, tab-separated, or with
-o json the records removed, each with the one node, as 'micro register
service -o json' prints them.`,
		Example: `  micro deregister service --name postgres --address 127.0.0.1:5432
  micro deregister service --name legacy --id legacy-1`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Name == "" {
				return cmdutil.Usagef("--name is required")
			}
			if (opts.ID == "") == (opts.Address == "") {
				return cmdutil.Usagef("give exactly one of --id and --address")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	service.Flags().StringVar(&opts.Name, "name", "", "service name")
	service.Flags().StringVar(&opts.ID, "id", "", "node ID")
	service.Flags().StringVar(&opts.Address, "address", "", "node address, host:port")
	_ = service.RegisterFlagCompletionFunc("name", cmdutil.CompleteServiceNames(f))
	cmd.AddCommand(service)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	ctx, cancel := opts.Context(ctx)
	defer cancel()
	reg, err := opts.Registry(ctx)
	if err != nil {
		return err
	}
	services, err := reg.GetService(ctx, opts.Name, registry.IncludeUnhealthy())
	if errors.Is(err, registry.ErrNotFound) {
		return cmdutil.WithHint(err, "see what is registered with `micro list services`")
	}
	if err != nil {
		return err
	}
	removed := []*registry.Service{}
	for _, svc := range services {
		for _, node := range svc.Nodes {
			if (opts.ID != "" && node.ID == opts.ID) || (opts.Address != "" && node.Address == opts.Address) {
				one := registry.WithNode(svc, node)
				if err := reg.Deregister(ctx, one); err != nil {
					return err
				}
				removed = append(removed, one)
			}
		}
	}
	if len(removed) == 0 {
		what := "id " + opts.ID
		if opts.Address != "" {
			what = "address " + opts.Address
		}
		return fmt.Errorf("service %q has no node with %s in %s; see its nodes with `micro get service %s --all`", opts.Name, what, reg, opts.Name)
	}
	if opts.Output != nil && opts.Output() == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, removed)
	}
	for _, one := range removed {
		for _, node := range one.Nodes {
			fmt.Fprintf(opts.IO.Out, "%s\t%s\t%s\n", iostreams.Escape(one.Name), iostreams.Escape(node.ID), iostreams.Escape(node.Address))
		}
	}
	return nil
}
