// Package list implements `micro list services` and its alias `micro services`.
package list

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
)

// ServicesOptions are the inputs of `micro list services`.
type ServicesOptions struct {
	IO       *iostreams.IOStreams
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	Context  func(context.Context) (context.Context, context.CancelFunc)
}

// NewCmdList returns `micro list`. runF replaces the run function in tests.
func NewCmdList(f *cmdutil.Factory, output func() string, runF func(context.Context, *ServicesOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list <command>",
		Short: "List what is registered",
		Args:  cmdutil.NoArgs,
	}
	cmd.AddCommand(newCmdServices(f, output, runF, "services", nil))
	return cmd
}

// NewCmdServicesAlias returns `micro services`, the same as `micro list services`.
func NewCmdServicesAlias(f *cmdutil.Factory, output func() string, runF func(context.Context, *ServicesOptions) error) *cobra.Command {
	cmd := newCmdServices(f, output, runF, "services", nil)
	cmd.Short = "List registered services (alias of 'micro list services')"
	return cmd
}

func newCmdServices(f *cmdutil.Factory, output func() string, runF func(context.Context, *ServicesOptions) error, use string, aliases []string) *cobra.Command {
	opts := &ServicesOptions{IO: f.IO, Registry: f.Registry, Output: output, Context: f.WithTimeout}
	return &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   "List registered services with their versions and healthy/total nodes",
		Long: `List every service in the registry: its name, the versions that run,
and how many of its nodes are healthy out of how many are registered.

On a terminal the output is a table; piped, it is tab-separated without a
header; with -o json it is the full service records.`,
		Example: `  micro list services
  micro services -o json | jq '.[].name'
  micro --registry consul list services`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return servicesRun(cmd.Context(), opts)
		},
	}
}

func servicesRun(ctx context.Context, opts *ServicesOptions) error {
	ctx, cancel := opts.Context(ctx)
	defer cancel()
	reg, err := opts.Registry(ctx)
	if err != nil {
		return err
	}
	services, err := reg.ListServices(ctx)
	if errors.Is(err, registry.ErrPermissionDenied) && len(services) > 0 {
		// The registry hid only some services: show the others, and say so.
		defer fmt.Fprintf(opts.IO.ErrOut, "micro: warning: %s; %s\n", err, cmdutil.RegistryTokenHint)
		err = nil
	}
	if err != nil {
		return err
	}
	summaries := Summarize(services)

	if opts.Output() == cmdutil.OutputJSON {
		if services == nil {
			services = []*registry.Service{}
		}
		return cmdutil.WriteJSON(opts.IO.Out, services)
	}
	table := cmdutil.NewTable(opts.IO, opts.Output(), "NAME", "VERSIONS", "NODES")
	for _, s := range summaries {
		table.AddRow(s.Name, strings.Join(s.Versions, ","), fmt.Sprintf("%d/%d", s.Healthy, s.Total))
	}
	return table.Render()
}

// Summary is one line of `micro list services`.
type Summary struct {
	Name     string
	Versions []string
	Healthy  int
	Total    int
}

// Summarize folds the records of each service (one per version) into one
// summary per name, sorted by name.
func Summarize(services []*registry.Service) []Summary {
	byName := map[string]*Summary{}
	for _, svc := range services {
		s, ok := byName[svc.Name]
		if !ok {
			s = &Summary{Name: svc.Name}
			byName[svc.Name] = s
		}
		version := svc.Version
		if version == "" {
			version = "-"
		}
		if !slices.Contains(s.Versions, version) {
			s.Versions = append(s.Versions, version)
		}
		for _, node := range svc.Nodes {
			s.Total++
			if node.Health == registry.HealthPassing || node.Health == "" {
				s.Healthy++
			}
		}
	}
	out := make([]Summary, 0, len(byName))
	for _, s := range byName {
		slices.Sort(s.Versions)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Name, b.Name) })
	return out
}
