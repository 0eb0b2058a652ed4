package cmd

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
)

// fullTree builds the whole command tree whatever the line, as every
// command did before the root learnt to build only the one it runs.
func fullTree(f *cmdutil.Factory, globals *globalFlags, _ []string) *cobra.Command {
	return NewCmdRoot(f, globals)
}

// runBoth runs args once with the tree built for them and once with the
// whole tree, in the same hermetic environment, and fails unless both
// print the same bytes and exit the same.
func runBoth(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	home := t.TempDir()
	all := map[string]string{
		"HOME":            home,
		"XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
		"XDG_DATA_HOME":   filepath.Join(home, ".local", "share"),
	}
	for k, v := range env {
		all[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := all[k]; return v, ok }
	exec := func(build func(*cmdutil.Factory, *globalFlags, []string) *cobra.Command) (string, string, int) {
		ios, _, out, errOut := iostreams.Test()
		code := run(context.Background(), ios, slices.Clone(args), lookup, build)
		return out.String(), errOut.String(), code
	}
	stdout, stderr, code = exec(newCmdRootFor)
	wantOut, wantErr, wantCode := exec(fullTree)
	if stdout != wantOut || stderr != wantErr || code != wantCode {
		t.Errorf("micro %q: the tree built for the line differs from the whole tree:\nhave exit %d\nstdout %q\nstderr %q\nwant exit %d\nstdout %q\nstderr %q",
			args, code, stdout, stderr, wantCode, wantOut, wantErr)
	}
	return stdout, stderr, code
}

// commandPaths are the paths of every command of the whole tree below the
// root, such as ["get", "service"].
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	globals := &globalFlags{}
	root := NewCmdRoot(&cmdutil.Factory{IO: ios, Config: globals.Config, OutputFormat: globals.Output}, globals)
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			p := append(slices.Clone(path), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	if len(paths) < len(topLevelCommands()) {
		t.Fatalf("the whole tree has %d commands, fewer than the %d top-level ones", len(paths), len(topLevelCommands()))
	}
	return paths
}

// The help of the root and of every command, however asked for, is the
// same bytes whether the tree was built for the line or whole.
func TestLazyRootHelpIsTheSame(t *testing.T) {
	env := map[string]string{"MICRO_REGISTRY": "memory"}
	for _, args := range [][]string{nil, {"--help"}, {"-h"}, {"help"}, {"--", "version"}} {
		stdout, _, code := runBoth(t, env, args...)
		if code != 0 || !strings.Contains(stdout, "Registry commands:") || !strings.Contains(stdout, "version") {
			t.Errorf("micro %q: want the root's help with every group, have exit %d %q", args, code, stdout)
		}
	}
	for _, path := range commandPaths(t) {
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				append(slices.Clone(path), "--help"),
				append(slices.Clone(path), "-h"),
				append([]string{"help"}, path...),
				append([]string{"--registry", "memory", "-o", "json"}, append(slices.Clone(path), "--help")...),
			} {
				stdout, stderr, code := runBoth(t, env, args...)
				if code != 0 || !strings.Contains(stdout, "micro "+name) || stderr != "" {
					t.Errorf("micro %q: want the help of micro %s, have exit %d stdout %q stderr %q", args, name, code, stdout, stderr)
				}
			}
		})
	}
}

// Lines that fail (an unknown or mistyped command, a bad flag, arguments a
// command does not take) fail the same way with the tree built for them:
// the same message, the same suggestions, the same exit code.
func TestLazyRootErrorsAreTheSame(t *testing.T) {
	env := map[string]string{"MICRO_REGISTRY": "memory"}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, cmdutil.ExitUsage, `unknown command "frobnicate" for "micro"`},
		{[]string{"verison"}, cmdutil.ExitUsage, "Did you mean this? version"},
		{[]string{"servics"}, cmdutil.ExitUsage, "Did you mean this? services"},
		{[]string{"--registry", "memory", "lsit", "services"}, cmdutil.ExitUsage, "Did you mean this? list"},
		{[]string{"--frob", "version"}, cmdutil.ExitUsage, "unknown flag: --frob"},
		{[]string{"version", "--frob"}, cmdutil.ExitUsage, "unknown flag: --frob"},
		{[]string{"version", "extra"}, cmdutil.ExitUsage, `version takes no arguments, got "extra"`},
		{[]string{"list", "service"}, cmdutil.ExitUsage, `did you mean "services"`},
		{[]string{"get", "greeter"}, cmdutil.ExitUsage, `"greeter"`},
		{[]string{"--timeout", "soon", "version"}, cmdutil.ExitUsage, "invalid argument"},
		{[]string{"--registry", "zookeeper", "version"}, cmdutil.ExitUsage, "zookeeper"},
		{[]string{"get", "service", "nosuch"}, 1, `"nosuch"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, stderr, code := runBoth(t, env, c.args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("want exit %d and %q on stderr, have exit %d %q", c.code, c.want, code, stderr)
			}
		})
	}
}

// Global flags before the command, in every spelling, reach the command
// built alone.
func TestLazyRootGlobalFlagsBeforeTheCommand(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-o", "json", "version"}, `"version": "dev"`},
		{[]string{"-ojson", "version"}, `"version": "dev"`},
		{[]string{"--output=json", "version"}, `"version": "dev"`},
		{[]string{"--output", "json", "version"}, `"version": "dev"`},
		{[]string{"--registry", "nats", "-o", "json", "version"}, `"version": "dev"`},
		{[]string{"--registry=etcd", "--registry-tls-insecure", "-o", "json", "version"}, `"version": "dev"`},
		{[]string{"--registry", "memory", "-o", "json", "services"}, "[]"},
		{[]string{"--registry_address", "127.0.0.1:1", "--registry", "memory", "-o", "json", "list", "services"}, "[]"},
		{[]string{"--registry", "memory", "version"}, "micro dev"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			stdout, stderr, code := runBoth(t, nil, c.args...)
			if code != 0 || !strings.Contains(stdout, c.want) {
				t.Errorf("want exit 0 and %q, have exit %d stdout %q stderr %q", c.want, code, stdout, stderr)
			}
		})
	}
}

// Shell completion still offers the top-level commands and the flags of
// every command, and the completion scripts are the same.
func TestLazyRootCompletion(t *testing.T) {
	env := map[string]string{"MICRO_REGISTRY": "memory"}
	stdout, _, code := runBoth(t, env, "__complete", "")
	for _, c := range topLevelCommands() {
		if !strings.Contains(stdout, "\n"+c.name+"\t") && !strings.HasPrefix(stdout, c.name+"\t") {
			t.Errorf("__complete '': want %s offered, have exit %d %q", c.name, code, stdout)
		}
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "ver"}, "version\t"},
		{[]string{"__completeNoDesc", "ser"}, "server\n"},
		{[]string{"__complete", "version", "--"}, "--output\t"},
		{[]string{"__complete", "call", "--"}, "--header"},
		{[]string{"__complete", "--registry", "memory", "list", ""}, "services\t"},
		{[]string{"completion", "bash"}, "__start_micro"},
		{[]string{"completion", "zsh"}, "#compdef micro"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			stdout, stderr, code := runBoth(t, env, c.args...)
			if code != 0 || !strings.Contains(stdout, c.want) {
				t.Errorf("want exit 0 and %q, have exit %d stdout %q stderr %q", c.want, code, stdout, stderr)
			}
		})
	}
}

// The root built for `micro version` holds that command only; lines whose
// command cobra might read differently, or that need the others, get the
// whole tree.
func TestLazyRootBuildsOnlyTheNamedCommand(t *testing.T) {
	all := []string{}
	for _, c := range topLevelCommands() {
		all = append(all, c.name)
	}
	slices.Sort(all)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"version"}, []string{"version"}},
		{[]string{"version", "--help"}, []string{"version"}},
		{[]string{"--registry", "nats", "version"}, []string{"version"}},
		{[]string{"--registry=nats", "version"}, []string{"version"}},
		{[]string{"--registry_address", "127.0.0.1:1", "version"}, []string{"version"}},
		{[]string{"-o", "json", "version"}, []string{"version"}},
		{[]string{"-ojson", "version"}, []string{"version"}},
		{[]string{"--registry-tls-insecure", "version"}, []string{"version"}},
		{[]string{"--registry", "version", "list"}, []string{"list"}}, // cobra reads version as the flag's value
		{[]string{"services"}, []string{"services"}},
		{[]string{"list", "services"}, []string{"list"}},
		{[]string{"call", "greeter.Greeter.Hello", "{}"}, []string{"call"}},
		{nil, all},
		{[]string{"help"}, all},
		{[]string{"help", "version"}, all},
		{[]string{"--help"}, all},
		{[]string{"-h", "version"}, all},
		{[]string{"--help", "version"}, all},
		{[]string{"completion", "bash"}, all},
		{[]string{"__complete", "version", ""}, all},
		{[]string{"__completeNoDesc", ""}, all},
		{[]string{"frobnicate"}, all},
		{[]string{"verison"}, all},
		{[]string{"--frob", "version"}, all},
		{[]string{"-x", "version"}, all},
		{[]string{"--", "version"}, all},
		{[]string{"--registry", "version"}, all},
		{[]string{"", "version"}, all},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			globals := &globalFlags{}
			root := newCmdRootFor(&cmdutil.Factory{IO: ios, Config: globals.Config, OutputFormat: globals.Output}, globals, c.args)
			var have []string
			for _, sub := range root.Commands() {
				have = append(have, sub.Name())
			}
			slices.Sort(have)
			if !slices.Equal(have, c.want) {
				t.Errorf("want the root to hold %q, have %q", c.want, have)
			}
		})
	}
}

// Each row of the table names the command it builds, with its aliases, so
// that the line selects the command cobra would have found in the whole
// tree.
func TestTopLevelCommandsNameWhatTheyBuild(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	globals := &globalFlags{}
	f := &cmdutil.Factory{IO: ios, Config: globals.Config, OutputFormat: globals.Output}
	seen := map[string]bool{}
	for _, c := range topLevelCommands() {
		cmd := c.build(f)
		if cmd.Name() != c.name || !slices.Equal(cmd.Aliases, c.aliases) {
			t.Errorf("the row %q (aliases %q) builds %q (aliases %q)", c.name, c.aliases, cmd.Name(), cmd.Aliases)
		}
		for _, name := range append([]string{c.name}, c.aliases...) {
			if seen[name] {
				t.Errorf("%q names two commands", name)
			}
			seen[name] = true
		}
	}
}
