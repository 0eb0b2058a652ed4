// Package completion implements `micro completion SHELL`.
package completion

import (
	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
)

// NewCmdCompletion returns `micro completion`.
func NewCmdCompletion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell. Service names complete from
the registry, and the endpoints of micro call, stream and describe from the
service's descriptors.

  bash:  source <(micro completion bash)   (needs the bash-completion package, v2)
  zsh:   micro completion zsh > "${fpath[1]}/_micro"
  fish:  micro completion fish > ~/.config/fish/completions/micro.fish

Completion asks the registry the global flags on the line name, as the
command itself would.`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cmdutil.ExactArgs(1, "a shell: bash, zsh, fish or powershell"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			out := f.IO.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return cmdutil.Usagef("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}
