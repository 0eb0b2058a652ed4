// Package get implements `micro get service NAME`.
package get

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
)

// ServiceOptions are the inputs of `micro get service`.
type ServiceOptions struct {
	IO       *iostreams.IOStreams
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	Context  func(context.Context) (context.Context, context.CancelFunc)

	Name string
	All  bool
}

// NewCmdGet returns `micro get`. runF replaces the run function in tests.
func NewCmdGet(f *cmdutil.Factory, output func() string, runF func(context.Context, *ServiceOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get <command>",
		Short: "Show one registered service in detail",
		Args:  cmdutil.NoArgs,
	}
	opts := &ServiceOptions{IO: f.IO, Registry: f.Registry, Output: output, Context: f.WithTimeout}
	service := &cobra.Command{
		Use:   "service NAME",
		Short: "Show a service's versions, nodes and endpoints",
		Long: `Show every version of a service with its nodes (ID, address, health,
metadata) and the endpoints it serves, where the registry knows them.

Only healthy nodes are shown unless --all is given; with --all, failing
nodes are listed too with their health.`,
		Example: `  micro get service greeter
  micro get service greeter --all
  micro get service greeter -o json | jq '.[0].nodes[].address'`,
		Args:              cmdutil.ExactArgs(1, "a service name"),
		ValidArgsFunction: cmdutil.CompleteServiceNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serviceRun(cmd.Context(), opts)
		},
	}
	service.Flags().BoolVarP(&opts.All, "all", "a", false, "include nodes that fail their health checks")
	cmd.AddCommand(service)
	return cmd
}

func serviceRun(ctx context.Context, opts *ServiceOptions) error {
	ctx, cancel := opts.Context(ctx)
	defer cancel()
	reg, err := opts.Registry(ctx)
	if err != nil {
		return err
	}
	var getOpts []registry.GetOption
	if opts.All {
		getOpts = append(getOpts, registry.IncludeUnhealthy())
	}
	services, err := reg.GetService(ctx, opts.Name, getOpts...)
	if errors.Is(err, registry.ErrNotFound) {
		return cmdutil.WithHint(err, "see what is registered with `micro list services`")
	}
	if err != nil {
		return err
	}

	switch opts.Output() {
	case cmdutil.OutputJSON:
		return cmdutil.WriteJSON(opts.IO.Out, services)
	case cmdutil.OutputText:
		return writeText(opts.IO, services)
	case cmdutil.OutputTable:
		return writeDetail(iostreams.EscapeWriter(opts.IO.Out), services)
	}
	if opts.IO.IsStdoutTTY() {
		return writeDetail(iostreams.EscapeWriter(opts.IO.Out), services)
	}
	return writeText(opts.IO, services)
}

// writeText prints one tab-separated line per node:
// name, version, node ID, address, health, metadata, tags.
func writeText(ios *iostreams.IOStreams, services []*registry.Service) error {
	table := iostreams.NewTable(ios.Out, false)
	for _, svc := range services {
		for _, node := range svc.Nodes {
			table.AddRow(svc.Name, svc.Version, node.ID, node.Address, health(node), FormatMetadata(node.Metadata), FormatTags(node.Tags))
		}
	}
	return table.Render()
}

// writeDetail prints a block per version, for people.
func writeDetail(w io.Writer, services []*registry.Service) error {
	for i, svc := range services {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "service  %s\n", svc.Name)
		fmt.Fprintf(w, "version  %s\n", orDash(svc.Version))
		if len(svc.Metadata) > 0 {
			fmt.Fprintf(w, "metadata %s\n", FormatMetadata(svc.Metadata))
		}
		fmt.Fprintln(w)
		// The TAGS column only for versions whose nodes have tags.
		tagged := slices.ContainsFunc(svc.Nodes, func(n *registry.Node) bool { return len(n.Tags) > 0 })
		columns := []string{"ID", "ADDRESS", "HEALTH", "METADATA"}
		if tagged {
			columns = append(columns, "TAGS")
		}
		nodes := iostreams.NewTable(w, true, columns...)
		for _, node := range svc.Nodes {
			row := []string{node.ID, node.Address, health(node), FormatMetadata(node.Metadata)}
			if tagged {
				row = append(row, FormatTags(node.Tags))
			}
			nodes.AddRow(row...)
		}
		if err := nodes.Render(); err != nil {
			return err
		}
		if len(svc.Endpoints) > 0 {
			fmt.Fprintln(w)
			endpoints := iostreams.NewTable(w, true, "ENDPOINT", "REQUEST", "RESPONSE", "METADATA")
			for _, ep := range svc.Endpoints {
				endpoints.AddRow(ep.Name, valueName(ep.Request), valueName(ep.Response), FormatMetadata(ep.Metadata))
			}
			if err := endpoints.Render(); err != nil {
				return err
			}
		}
	}
	return nil
}

// FormatMetadata prints a map as k=v pairs sorted by key, separated by commas.
func FormatMetadata(md map[string]string) string {
	if len(md) == 0 {
		return "-"
	}
	pairs := make([]string, 0, len(md))
	for _, k := range slices.Sorted(maps.Keys(md)) {
		pairs = append(pairs, k+"="+md[k])
	}
	return strings.Join(pairs, ",")
}

// FormatTags prints tags separated by commas, or "-" for none.
func FormatTags(tags []string) string {
	if len(tags) == 0 {
		return "-"
	}
	return strings.Join(tags, ",")
}

func health(node *registry.Node) string { return orDash(node.Health) }

func valueName(v *registry.Value) string {
	if v == nil {
		return "-"
	}
	return orDash(v.Name)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
