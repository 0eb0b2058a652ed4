package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// NoArgs rejects any positional argument with a usage error.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("%s takes no arguments, got %q", commandName(cmd), args[0])
	}
	return nil
}

// ExactArgs requires n positional arguments, naming them in the error.
func ExactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef("%s needs %s (got %s)", commandName(cmd), names, Plural(len(args), "argument"))
		}
		return nil
	}
}

// RangeArgs requires between min and max positional arguments.
func RangeArgs(min, max int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return Usagef("%s takes %s (got %s)", commandName(cmd), names, Plural(len(args), "argument"))
		}
		return nil
	}
}

// Plural is n with the noun, in the plural unless n is 1: "1 argument",
// "0 arguments".
func Plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// RequireSubcommand makes a command that only groups others (`micro get`,
// `micro list`) refuse an unknown subcommand with a usage error, instead of
// printing its help and succeeding. Without arguments it prints its help.
func RequireSubcommand(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		var names, uses []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
				uses = append(uses, cmd.CommandPath()+" "+sub.Use)
			}
		}
		msg := fmt.Sprintf("unknown command %q for %q: want %s", args[0], cmd.CommandPath(), strings.Join(names, ", "))
		switch suggestions := cmd.SuggestionsFor(args[0]); {
		case len(suggestions) > 0:
			msg += fmt.Sprintf("; did you mean %q?", suggestions[0])
		case len(names) == 1:
			msg += fmt.Sprintf("; did you mean `%s`?", uses[0])
		}
		return Usagef("%s", msg)
	}
}

// commandName is the command's path without the root's name: `list
// services`, so that "micro: " in front of the message does not say micro
// twice.
func commandName(cmd *cobra.Command) string {
	path := cmd.CommandPath()
	if cmd.HasParent() {
		path = strings.TrimPrefix(path, cmd.Root().Name()+" ")
	}
	return path
}
