package cmdutil

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// CompleteServiceNames completes the first argument with the names of the
// registered services. A registry that cannot be reached completes nothing.
func CompleteServiceNames(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
		defer cancel()
		reg, err := f.Registry(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		services, err := reg.ListServices(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, svc := range services {
			if strings.HasPrefix(svc.Name, toComplete) && !slices.Contains(names, svc.Name) {
				names = append(names, svc.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
