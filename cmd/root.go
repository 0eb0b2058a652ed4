// Package cmd is the micro command line: the root command, the global flags,
// and the mapping of errors to exit codes. Each command lives in a package of
// its own and is wired here explicitly.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	microapi "github.com/microtools/micro/cmd/api"
	"github.com/microtools/micro/cmd/bench"
	microcall "github.com/microtools/micro/cmd/call"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/completion"
	"github.com/microtools/micro/cmd/deregister"
	"github.com/microtools/micro/cmd/describe"
	"github.com/microtools/micro/cmd/gen"
	"github.com/microtools/micro/cmd/get"
	"github.com/microtools/micro/cmd/health"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/cmd/list"
	mcpcmd "github.com/microtools/micro/cmd/mcp"
	newcmd "github.com/microtools/micro/cmd/new"
	"github.com/microtools/micro/cmd/publish"
	"github.com/microtools/micro/cmd/register"
	"github.com/microtools/micro/cmd/server"
	"github.com/microtools/micro/cmd/stream"
	"github.com/microtools/micro/cmd/subscribe"
	"github.com/microtools/micro/cmd/version"
	"github.com/microtools/micro/cmd/watch"
	"github.com/microtools/micro/pkg/config"
)

// Main runs the command line with the process's arguments and environment
// and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, iostreams.System(), os.Args[1:], os.LookupEnv)
}

// Run runs the command line with the given streams, arguments and
// environment, and returns the exit code. Tests call it directly.
func Run(ctx context.Context, ios *iostreams.IOStreams, args []string, lookupEnv func(string) (string, bool)) int {
	return run(ctx, ios, args, lookupEnv, newCmdRootFor)
}

// run is Run with the function that builds the command tree for the line
// given: the tests compare the tree built for one command with the whole.
func run(ctx context.Context, ios *iostreams.IOStreams, args []string, lookupEnv func(string) (string, bool),
	build func(*cmdutil.Factory, *globalFlags, []string) *cobra.Command) int {
	globals := &globalFlags{lookupEnv: lookupEnv}
	f := &cmdutil.Factory{IO: ios, Config: globals.Config, OutputFormat: globals.Output, Env: lookupEnv}
	defer f.Close()

	root := build(f, globals, args)
	root.SetArgs(args)
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)

	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return cmdutil.ExitOK
	}
	if cfg, cfgErr := globals.Config(); cfgErr == nil {
		err = cmdutil.RegistryError(cfg, err)
	}
	if isCobraUsageError(err) {
		err = &cmdutil.UsageError{Err: err}
	}
	var silent *cmdutil.SilentError
	if !errors.As(err, &silent) {
		// Messages that start with the command's path say "micro" once; what
		// came from the network in them cannot drive the terminal.
		fmt.Fprintf(ios.ErrOut, "micro: %s\n", iostreams.Escape(strings.TrimPrefix(oneLine(err.Error()), "micro ")))
	}
	code := cmdutil.ExitCode(err)
	if code == cmdutil.ExitUsage && !errors.As(err, &silent) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(ios.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// topLevelCommand is one command under the root: its name and aliases,
// which select it on the command line without building it, its help group,
// and its constructor.
type topLevelCommand struct {
	name    string
	aliases []string
	group   string
	build   func(*cmdutil.Factory) *cobra.Command
}

// topLevelCommands are the commands under the root, in the order of the
// help. A test checks each name and alias against the command built.
func topLevelCommands() []topLevelCommand {
	return []topLevelCommand{
		{name: "list", group: "registry", build: func(f *cmdutil.Factory) *cobra.Command { return list.NewCmdList(f, nil) }},
		{name: "services", group: "registry", build: func(f *cmdutil.Factory) *cobra.Command { return list.NewCmdServicesAlias(f, nil) }},
		{name: "get", group: "registry", build: func(f *cmdutil.Factory) *cobra.Command { return get.NewCmdGet(f, nil) }},
		{name: "watch", group: "registry", build: func(f *cmdutil.Factory) *cobra.Command { return watch.NewCmdWatch(f, nil) }},
		{name: "register", group: "registry", build: func(f *cmdutil.Factory) *cobra.Command { return register.NewCmdRegister(f, nil) }},
		{name: "deregister", group: "registry", build: func(f *cmdutil.Factory) *cobra.Command { return deregister.NewCmdDeregister(f, nil) }},
		{name: "call", group: "calls", build: func(f *cmdutil.Factory) *cobra.Command { return microcall.NewCmdCall(f, nil) }},
		{name: "stream", group: "calls", build: func(f *cmdutil.Factory) *cobra.Command { return stream.NewCmdStream(f, nil) }},
		{name: "describe", group: "calls", build: func(f *cmdutil.Factory) *cobra.Command { return describe.NewCmdDescribe(f, nil) }},
		{name: "health", group: "calls", build: func(f *cmdutil.Factory) *cobra.Command { return health.NewCmdHealth(f, nil) }},
		{name: "bench", group: "calls", build: func(f *cmdutil.Factory) *cobra.Command { return bench.NewCmdBench(f, nil) }},
		{name: "mcp", group: "calls", build: func(f *cmdutil.Factory) *cobra.Command { return mcpcmd.NewCmdMCP(f, nil) }},
		{name: "server", group: "runtime", build: func(f *cmdutil.Factory) *cobra.Command { return server.NewCmdServer(f, nil) }},
		{name: "api", group: "runtime", build: func(f *cmdutil.Factory) *cobra.Command { return microapi.NewCmdAPI(f, nil) }},
		{name: "publish", group: "pubsub", build: func(f *cmdutil.Factory) *cobra.Command { return publish.NewCmdPublish(f, nil) }},
		{name: "subscribe", group: "pubsub", build: func(f *cmdutil.Factory) *cobra.Command { return subscribe.NewCmdSubscribe(f, nil) }},
		{name: "new", group: "develop", build: func(f *cmdutil.Factory) *cobra.Command { return newcmd.NewCmdNew(f, nil) }},
		{name: "gen", group: "develop", build: func(f *cmdutil.Factory) *cobra.Command { return gen.NewCmdGen(f, nil) }},
		{name: "version", build: func(f *cmdutil.Factory) *cobra.Command { return version.NewCmdVersion(f) }},
		// completion writes scripts for the whole tree: never built alone.
		{name: "completion", build: func(f *cmdutil.Factory) *cobra.Command { return completion.NewCmdCompletion(f) }},
	}
}

// NewCmdRoot builds the whole command tree.
func NewCmdRoot(f *cmdutil.Factory, globals *globalFlags) *cobra.Command {
	root := newCmdRootOnly(globals)
	addAllTopLevel(root, f)
	return root
}

// newCmdRootFor builds what running args needs: the root with the one
// top-level command that args name (`micro version` builds no flag of
// `micro call`), or the whole tree when the line needs more or cobra's
// reading of it is in doubt: no command, help, completion (cobra's
// __complete included), an unknown or mistyped command (whose suggestions
// come from all the others), or a flag before the command that is not a
// global one.
func newCmdRootFor(f *cmdutil.Factory, globals *globalFlags, args []string) *cobra.Command {
	root := newCmdRootOnly(globals)
	name, ok := topLevelName(args, root.PersistentFlags())
	if ok && name != "completion" {
		for _, c := range topLevelCommands() {
			if c.name == name || slices.Contains(c.aliases, name) {
				// No command of cobra's own either: its default completion
				// command is built only when no completion command is there.
				root.CompletionOptions.DisableDefaultCmd = true
				addTopLevel(root, f, c)
				requireSubcommands(root)
				return root
			}
		}
	}
	addAllTopLevel(root, f)
	return root
}

// topLevelName is the first argument that cobra takes for the name of a
// top-level command (its Find skips flags and the values of those that take
// one), and false when there is none or a flag before it is not one of
// the global flags, whose values cobra could read otherwise.
func topLevelName(args []string, globals *pflag.FlagSet) (string, bool) {
	for len(args) > 0 {
		arg := args[0]
		args = args[1:]
		var flag *pflag.Flag
		switch {
		case arg == "--" || arg == "-" || arg == "":
			return "", false
		case !strings.HasPrefix(arg, "-"):
			return arg, true
		case strings.HasPrefix(arg, "--"):
			name, _, _ := strings.Cut(arg[2:], "=")
			flag = globals.Lookup(name)
		default:
			flag = globals.ShorthandLookup(arg[1:2])
		}
		if flag == nil {
			// --help, -h, or a flag no command has here.
			return "", false
		}
		// Cobra reads the next argument as the value of a flag that takes
		// one (not a boolean) given as --flag or -f, with no "=" and,
		// for a shorthand, no value joined to it.
		joined := strings.Contains(arg, "=") || (!strings.HasPrefix(arg, "--") && len(arg) > 2)
		if !joined && flag.NoOptDefVal == "" {
			if len(args) <= 1 {
				return "", false
			}
			args = args[1:]
		}
	}
	return "", false
}

// addAllTopLevel builds every command under root.
func addAllTopLevel(root *cobra.Command, f *cmdutil.Factory) {
	for _, c := range topLevelCommands() {
		addTopLevel(root, f, c)
	}
	requireSubcommands(root)
}

// addTopLevel builds c and adds it under root.
func addTopLevel(root *cobra.Command, f *cmdutil.Factory, c topLevelCommand) {
	cmd := c.build(f)
	cmd.GroupID = c.group
	root.AddCommand(cmd)
}

// newCmdRootOnly builds the root command with its global flags and help
// groups, and no command under it.
func newCmdRootOnly(globals *globalFlags) *cobra.Command {
	root := &cobra.Command{
		Use:   "micro",
		Short: "Find, call and operate gRPC microservices by name",
		Long: `micro finds services through a registry (NATS by default, Consul or etcd),
calls any method of any service with JSON, streams, publishes and
subscribes, and scaffolds new services.

Start the embedded registry and broker with 'micro server'; every other
command and every service finds it on 127.0.0.1:4222 by default.`,
		Example: `  micro server
  micro list services
  micro get service greeter
  micro watch greeter
  micro call greeter Greeter.Hello '{"name":"Ada"}'
  micro --registry consul --registry-address 127.0.0.1:8500 list services`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Name() == cobra.ShellCompRequestCmd || cmd.Name() == cobra.ShellCompNoDescRequestCmd {
				// Shell completion parses the line's flags after this
				// runs; the settings are resolved when a completion
				// function first asks for them.
				return nil
			}
			// A bad setting (a --config file that is not there, a
			// malformed MICRO_TIMEOUT) fails every command, not only
			// those that connect somewhere.
			if _, err := globals.Config(); err != nil {
				return err
			}
			return cmdutil.ValidateOutput(globals.Output())
		},
	}
	root.SetGlobalNormalizationFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		// The old underscore spellings (--registry_address) keep working.
		return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &cmdutil.UsageError{Err: err}
	})
	globals.bind(root.PersistentFlags())

	root.AddGroup(
		&cobra.Group{ID: "registry", Title: "Registry commands:"},
		&cobra.Group{ID: "calls", Title: "Calls:"},
		&cobra.Group{ID: "runtime", Title: "Runtime commands:"},
		&cobra.Group{ID: "pubsub", Title: "Pub/sub commands:"},
		&cobra.Group{ID: "develop", Title: "Development commands:"},
	)
	root.SetHelpCommandGroupID("")
	root.SetCompletionCommandGroupID("")
	return root
}

// requireSubcommands makes every command below root that only groups
// others refuse an unknown subcommand (`micro get greeter`) with a usage
// error.
func requireSubcommands(parent *cobra.Command) {
	for _, c := range parent.Commands() {
		if c.HasSubCommands() && !c.Runnable() {
			cmdutil.RequireSubcommand(c)
		}
		requireSubcommands(c)
	}
}

// globalFlags are the flags every command has. Each has a MICRO_* variable;
// precedence is flag > environment > config file > default.
type globalFlags struct {
	registry        string
	registryAddress string
	broker          string
	registryToken   string
	brokerAddress   string
	registryCreds   registryCredentials
	timeout         time.Duration
	output          string
	configPath      string

	lookupEnv func(string) (string, bool)
	// flags are the global flags as bound: a flag the user gave is
	// Changed there whichever command parsed the line, shell completion's
	// __complete included, which runs no PersistentPreRunE.
	flags    *pflag.FlagSet
	once     sync.Once
	resolved config.Config
	err      error
}

func (g *globalFlags) bind(fs *pflag.FlagSet) {
	g.flags = fs
	fs.StringVar(&g.registry, "registry", config.DefaultRegistry, "registry backend: nats, consul, etcd or memory [$MICRO_REGISTRY]")
	fs.StringVar(&g.registryAddress, "registry-address", "", "registry address, or a comma-separated list for a NATS or etcd cluster (default nats://127.0.0.1:4222, 127.0.0.1:8500 for consul, 127.0.0.1:2379 for etcd) [$MICRO_REGISTRY_ADDRESS]")
	fs.StringVar(&g.registryToken, "registry-token", "", "ACL token of the consul registry (default $CONSUL_HTTP_TOKEN_FILE or $CONSUL_HTTP_TOKEN) [$MICRO_REGISTRY_TOKEN]")
	g.registryCreds.bind(fs)
	fs.StringVar(&g.broker, "broker", "", "broker backend: nats, rabbitmq or memory (default nats; memory with --registry memory) [$MICRO_BROKER]")
	fs.StringVar(&g.brokerAddress, "broker-address", "", "server of the broker: NATS URLs (default: the registry's), or amqp://user:pass@host:5672/vhost for rabbitmq [$MICRO_BROKER_ADDRESS]")
	fs.DurationVar(&g.timeout, "timeout", config.DefaultTimeout, "time limit of each operation [$MICRO_TIMEOUT]")
	fs.StringVarP(&g.output, "output", "o", "", "output format: table, text (tab-separated) or json; default table on a terminal, text otherwise [$MICRO_OUTPUT]")
	fs.StringVar(&g.configPath, "config", "", "config file, which must exist when given here (default $XDG_CONFIG_HOME/micro/config.json, or ~/.config/micro/config.json) [$MICRO_CONFIG]")
}

// Output returns the -o value after flags, environment and config file.
func (g *globalFlags) Output() string {
	_, _ = g.Config()
	return g.output
}

// Config returns the settings after flags, environment and config file. It
// resolves them once, on first use, after the flags are parsed.
func (g *globalFlags) Config() (config.Config, error) {
	g.once.Do(func() { g.resolved, g.err = g.resolve() })
	return g.resolved, g.err
}

// resolve applies config file and environment under the flags the user set.
func (g *globalFlags) resolve() (config.Config, error) {
	lookupEnv := g.lookupEnv
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	changed := func(name string) bool {
		f := g.flags.Lookup(name)
		return f != nil && f.Changed
	}
	set := func(name string, target *string, env string, file string) {
		if changed(name) {
			return
		}
		if v, ok := lookupEnv(env); ok && v != "" {
			*target = v
		} else if file != "" {
			*target = file
		}
	}

	path := g.configPath
	if !changed("config") {
		if v, ok := lookupEnv(config.EnvConfig); ok && v != "" {
			path = v
		} else if dir, err := cmdutil.ConfigDir(lookupEnv); err == nil {
			path = filepath.Join(dir, "micro", "config.json")
		}
	}
	var file config.File
	if changed("config") {
		// A file named on the command line must be there; the default one
		// (and MICRO_CONFIG's) may not exist yet.
		if _, err := os.Stat(path); err != nil {
			return config.Config{}, cmdutil.Usagef("--config %s: %w", path, unwrapPathError(err))
		}
	}
	if path != "" {
		var err error
		if file, err = config.ReadFile(path); err != nil {
			return config.Config{}, err
		}
	}

	set("registry", &g.registry, config.EnvRegistry, file.Registry)
	set("registry-address", &g.registryAddress, config.EnvRegistryAddress, file.RegistryAddress)
	set("broker", &g.broker, config.EnvBroker, file.Broker)
	set("registry-token", &g.registryToken, config.EnvRegistryToken, "")
	set("broker-address", &g.brokerAddress, config.EnvBrokerAddress, file.BrokerAddress)
	set("etcd-layout", &g.registryCreds.etcdLayout, config.EnvEtcdLayout, file.EtcdLayout)
	set("registry-user", &g.registryCreds.user, config.EnvRegistryUser, "")
	set("registry-password", &g.registryCreds.password, config.EnvRegistryPassword, "")
	set("registry-tls-ca", &g.registryCreds.tls.CAFile, config.EnvRegistryTLSCA, "")
	set("registry-tls-cert", &g.registryCreds.tls.CertFile, config.EnvRegistryTLSCert, "")
	set("registry-tls-key", &g.registryCreds.tls.KeyFile, config.EnvRegistryTLSKey, "")
	if !changed("registry-tls-insecure") {
		if v, ok := lookupEnv(config.EnvRegistryTLSInsecure); ok && v != "" {
			insecure, err := strconv.ParseBool(v)
			if err != nil {
				return config.Config{}, cmdutil.Usagef("%s=%q is not a boolean such as true or false", config.EnvRegistryTLSInsecure, v)
			}
			g.registryCreds.tls.InsecureSkipVerify = insecure
		}
	}
	set("output", &g.output, config.EnvOutput, file.Output)
	timeout := ""
	set("timeout", &timeout, config.EnvTimeout, file.Timeout)
	if timeout != "" {
		d, err := time.ParseDuration(timeout)
		if err != nil || d <= 0 {
			return config.Config{}, cmdutil.Usagef("timeout %q (from %s or the config file) is not a positive duration such as 5s", timeout, config.EnvTimeout)
		}
		g.timeout = d
	}

	cfg := config.Config{
		Registry:         g.registry,
		RegistryAddress:  g.registryAddress,
		Broker:           g.broker,
		RegistryToken:    g.registryToken,
		BrokerAddress:    g.brokerAddress,
		EtcdLayout:       g.registryCreds.etcdLayout,
		RegistryUser:     g.registryCreds.user,
		RegistryPassword: g.registryCreds.password,
		RegistryTLS:      g.registryCreds.tls,
		Timeout:          g.timeout,
		Env:              lookupEnv,
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &cmdutil.UsageError{Err: err}
	}
	return cfg, nil
}

// registryCredentials are the global flags of the etcd registry: which
// layouts it reads, and how it logs in.
type registryCredentials struct {
	etcdLayout     string
	user, password string
	tls            config.RegistryTLS
}

func (r *registryCredentials) bind(fs *pflag.FlagSet) {
	fs.StringVar(&r.etcdLayout, "etcd-layout", "", "etcd layouts to read: micro, gomicro, kratos, gozero, comma-separated, or all (default all) [$"+config.EnvEtcdLayout+"]")
	fs.StringVar(&r.user, "registry-user", "", "user name for etcd's authentication [$"+config.EnvRegistryUser+"]")
	fs.StringVar(&r.password, "registry-password", "", "password for etcd's authentication, with --registry-user [$"+config.EnvRegistryPassword+"]")
	fs.StringVar(&r.tls.CAFile, "registry-tls-ca", "", "PEM file of the CAs that verify etcd's certificates; turns TLS on [$"+config.EnvRegistryTLSCA+"]")
	fs.StringVar(&r.tls.CertFile, "registry-tls-cert", "", "PEM client certificate for etcd, with --registry-tls-key; turns TLS on [$"+config.EnvRegistryTLSCert+"]")
	fs.StringVar(&r.tls.KeyFile, "registry-tls-key", "", "PEM key of --registry-tls-cert [$"+config.EnvRegistryTLSKey+"]")
	fs.BoolVar(&r.tls.InsecureSkipVerify, "registry-tls-insecure", false, "TLS to etcd without verifying its certificate (tests only) [$"+config.EnvRegistryTLSInsecure+"]")
}

// isCobraUsageError recognises the errors cobra makes for unknown commands
// and wrong argument counts, which it does not type.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand flag", "invalid argument"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// unwrapPathError is the cause of a failed file operation without the
// operation and path, which the caller names already.
func unwrapPathError(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
