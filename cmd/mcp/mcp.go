// Package mcp implements `micro mcp serve` and `micro mcp tools`: every
// registered service as tools for AI agents, over the Model Context
// Protocol.
package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/version"
	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/mcp"
)

// EnvAuthToken is the environment variable read for --auth-token, so that
// the token need not show in the process list.
const EnvAuthToken = "MICRO_MCP_AUTH_TOKEN"

// EnvAllowedHosts is the environment variable read for --allowed-host when
// the flag is not given.
const EnvAllowedHosts = "MICRO_MCP_ALLOWED_HOSTS"

// Options are the inputs of `micro mcp serve` and `micro mcp tools`.
type Options struct {
	Factory *cmdutil.Factory
	Broker  func(context.Context) (broker.Broker, error)

	// Address, for serve, is where streamable HTTP listens; empty serves
	// stdio.
	Address   string
	AuthToken string
	// AllowedHosts are the Host names HTTP serves besides the loopback
	// ones (api.HostCheck: DNS rebinding protection).
	AllowedHosts []string

	Allow, Deny          []string
	ReadOnly             bool
	Headers              []string
	MaxStreamMessages    int
	MaxResponseBytes     int
	Descriptions         string
	MaxDescriptionLength int
	AllowPublish         bool
	AllowReadTopic       bool

	// Connection holds the dial flags (its Address is unused: --address
	// is the HTTP listener here).
	Connection callutil.ConnectionFlags
	// Ready, when set, is told the HTTP address once it listens (tests).
	Ready func(addr string)
}

// NewCmdMCP returns `micro mcp` with its serve and tools subcommands.
// runF replaces the run functions in tests; it is told which one ran.
func NewCmdMCP(f *cmdutil.Factory, runF func(context.Context, string, *Options) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve every registered service as tools for AI agents (Model Context Protocol)",
		Long: `Serve the endpoints of every registered service as Model Context Protocol
tools, for AI agents and LLM applications: one tool per endpoint, with JSON
Schemas made from the services' descriptors, and tools to list, describe
and health-check services.

'micro mcp serve' speaks MCP over stdio (for clients that spawn it) or,
with --address, over streamable HTTP. 'micro mcp tools' prints the tools it
would serve.`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(newCmdServe(f, runF), newCmdTools(f, runF))
	return cmd
}

func newOptions(f *cmdutil.Factory) *Options {
	return &Options{Factory: f, Broker: func(ctx context.Context) (broker.Broker, error) { return f.Broker(ctx) }}
}

// bindShared adds the flags serve and tools share.
func (o *Options) bindShared(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Allow, "allow", nil, "serve only endpoints matching SERVICE or SERVICE/ENDPOINT (globs with *; repeatable; default: all)")
	fs.StringArrayVar(&o.Deny, "deny", nil, "never serve endpoints matching SERVICE or SERVICE/ENDPOINT (repeatable; wins over --allow)")
	fs.BoolVar(&o.ReadOnly, "read-only", false, "serve only endpoints marked idempotent or free of side effects (idempotency_level), and no publish")
	fs.StringArrayVarP(&o.Headers, "header", "H", nil, "request metadata sent with every call, as key:value (repeatable; for auth)")
	fs.IntVar(&o.MaxStreamMessages, "max-stream-messages", mcp.DefaultMaxStreamMessages, "messages of a server stream gathered into one answer")
	fs.IntVar(&o.MaxResponseBytes, "max-response-bytes", mcp.DefaultMaxResponseBytes, "largest answer of one call, in bytes of JSON")
	fs.StringVar(&o.Descriptions, "descriptions", mcp.DescriptionsComments, "tool descriptions: comments (the services' proto comments, untrusted text) or none")
	fs.IntVar(&o.MaxDescriptionLength, "max-description-length", mcp.DefaultMaxDescriptionLength, "characters of a service's text kept in one description")
	fs.BoolVar(&o.AllowPublish, "allow-publish", false, "add the publish tool (broker from --broker-address; not with --read-only)")
	fs.BoolVar(&o.AllowReadTopic, "allow-read-topic", false, "add the read_topic tool, which reads messages of any topic")
	fs.DurationVar(&o.Connection.ConnectTimeout, "connect-timeout", callutil.DefaultConnectTimeout, "time limit of connecting to a node")
	fs.BoolVar(&o.Connection.TLS, "tls", false, "connect to services with TLS, verifying them with the system's CAs (or --cacert)")
	fs.StringVar(&o.Connection.CACert, "cacert", "", "PEM file of the CAs services' certificates must chain to (implies --tls)")
	fs.StringVar(&o.Connection.Cert, "cert", "", "PEM file of a client certificate, for mutual TLS (with --key)")
	fs.StringVar(&o.Connection.Key, "key", "", "PEM file of the client certificate's private key (with --cert)")
	fs.BoolVar(&o.Connection.Insecure, "insecure", false, "TLS without verifying services' certificates (for tests only)")
}

// validate reports flags that cannot work, as usage errors.
func (o *Options) validate() error {
	if err := o.Connection.Validate(); err != nil {
		return err
	}
	if _, err := mcp.NewFilter(o.Allow, o.Deny); err != nil {
		return cmdutil.Usagef("%s", strings.TrimPrefix(err.Error(), "mcp: "))
	}
	if o.Descriptions != mcp.DescriptionsComments && o.Descriptions != mcp.DescriptionsNone {
		return cmdutil.Usagef("--descriptions %q: want comments or none", o.Descriptions)
	}
	if o.MaxStreamMessages <= 0 || o.MaxResponseBytes <= 0 || o.MaxDescriptionLength <= 0 {
		return cmdutil.Usagef("--max-stream-messages, --max-response-bytes and --max-description-length want a positive number")
	}
	if o.AllowPublish && o.ReadOnly {
		return cmdutil.Usagef("--allow-publish and --read-only contradict each other: publishing is not read-only")
	}
	return nil
}

func newCmdServe(f *cmdutil.Factory, runF func(context.Context, string, *Options) error) *cobra.Command {
	opts := newOptions(f)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the registered services as MCP tools over stdio or streamable HTTP",
		Long: `Serve the endpoints of every registered service as MCP tools: over stdio by
default (an MCP client spawns 'micro mcp serve'), or over streamable HTTP at
http://ADDRESS/mcp with --address. The tool list follows the registry:
clients are told (notifications/tools/list_changed) when services come,
go or change their API.

Each endpoint is a tool named service_Service_Method (greeter_Greeter_Hello)
whose input schema comes from the request message and output schema from
the response. Client- and bidirectional-streaming tools take
{"requests": [...]}; server- and bidirectional-streaming ones answer with
the messages gathered up to --max-stream-messages or the --timeout, with a
progress notification for each. Built-in tools:
list_services, describe_service, check_health, and, when allowed,
publish (--allow-publish) and read_topic (--allow-read-topic).

Safety: --allow and --deny choose the endpoints (deny wins); --read-only
keeps only those whose proto options mark them idempotent or free of side
effects; -H adds metadata (credentials) to every call; --timeout bounds each
call and --max-response-bytes each answer. HTTP listens on loopback unless
--address names another host, which needs --auth-token (or
$MICRO_MCP_AUTH_TOKEN): clients then send "Authorization: Bearer TOKEN".
Over HTTP a request that comes in over loopback is served only when its
Host is localhost, 127.0.0.1, [::1] or an --allowed-host name (DNS
rebinding protection), and with --allowed-host so is every request;
others are answered 403.
Descriptions come from the services' proto comments, which whoever
registers a service writes: --descriptions none leaves them out.`,
		Example: `  micro mcp serve
  micro mcp serve --read-only --allow greeter --allow 'billing/Billing.Get*'
  micro mcp serve --address 127.0.0.1:7000 --auth-token "$TOKEN"
  micro mcp serve -H 'authorization:Bearer abc' --deny 'admin'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.AuthToken == "" {
				if cfg, err := opts.Factory.Config(); err == nil && cfg.Env != nil {
					opts.AuthToken, _ = cfg.Env(EnvAuthToken)
				}
			}
			if err := opts.validate(); err != nil {
				return err
			}
			if !cmd.Flags().Changed("allowed-host") {
				opts.AllowedHosts = f.EnvList(EnvAllowedHosts)
			}
			if opts.Address != "" {
				addr, err := listenAddress(opts.Address, opts.AuthToken)
				if err != nil {
					return err
				}
				opts.Address = addr
				if _, err := api.NewHostCheck(nil, opts.AllowedHosts); err != nil {
					return cmdutil.Usagef("--allowed-host: %v", err)
				}
			} else if opts.AuthToken != "" && cmd.Flags().Changed("auth-token") {
				return cmdutil.Usagef("--auth-token is for HTTP: give --address too")
			} else if cmd.Flags().Changed("allowed-host") {
				return cmdutil.Usagef("--allowed-host is for HTTP: give --address too")
			}
			if runF != nil {
				return runF(cmd.Context(), "serve", opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Address, "address", "", "serve streamable HTTP on host:port (a port alone listens on 127.0.0.1) instead of stdio")
	cmd.Flags().StringVar(&opts.AuthToken, "auth-token", "", "bearer token HTTP clients must send [$"+EnvAuthToken+"]")
	cmd.Flags().StringSliceVar(&opts.AllowedHosts, "allowed-host", nil, "over HTTP, a Host name served besides localhost, 127.0.0.1 and [::1] (DNS rebinding protection; * for any); repeat or separate with commas [$"+EnvAllowedHosts+"]")
	opts.bindShared(cmd.Flags())
	return cmd
}

func newCmdTools(f *cmdutil.Factory, runF func(context.Context, string, *Options) error) *cobra.Command {
	opts := newOptions(f)
	cmd := &cobra.Command{
		Use:   "tools",
		Short: "Print the MCP tools 'micro mcp serve' would serve, without serving them",
		Long: `Print the tools that 'micro mcp serve' with the same flags would serve now:
one row per tool with its name, kind, service and the first line of its
description. -o json writes every tool with its description and input and
output schemas.`,
		Example: `  micro mcp tools
  micro mcp tools --read-only
  micro mcp tools -o json | jq '.[] | select(.name == "greeter_Greeter_Hello") | .inputSchema'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), "tools", opts)
			}
			return toolsRun(cmd.Context(), opts)
		},
	}
	opts.bindShared(cmd.Flags())
	return cmd
}

// listenAddress completes --address: a port alone listens on loopback;
// another host needs a token.
func listenAddress(address, token string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		if _, perr := fmt.Sscanf(address, "%d", new(int)); perr == nil && !strings.ContainsAny(address, ":.") {
			host, port = "", address
		} else {
			return "", cmdutil.Usagef("--address %q is not host:port", address)
		}
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || ip != nil && ip.IsLoopback()
	if !loopback && token == "" {
		return "", cmdutil.Usagef("--address %s listens beyond this machine: set --auth-token (or $%s) so that only clients with the token can call services", address, EnvAuthToken)
	}
	return net.JoinHostPort(host, port), nil
}

// newServer builds the MCP server of the flags, and what to close after.
func newServer(ctx context.Context, opts *Options, logger *slog.Logger) (*mcp.Server, func(), error) {
	// -H goes on every call and on the reflection requests that describe
	// the services, as with micro call.
	headerFlags := callutil.HeaderFlags{Headers: opts.Headers}
	headers, err := headerFlags.RPC()
	if err != nil {
		return nil, nil, err
	}
	reflectHeaders, err := headerFlags.Reflection()
	if err != nil {
		return nil, nil, err
	}
	reg, err := opts.Factory.Registry(ctx)
	if err != nil {
		return nil, nil, err
	}
	cacheDir, err := opts.Factory.DescriptorCacheDir()
	if err != nil {
		logger.Warn("no descriptor cache", "error", err)
	}
	caller, err := newCaller(ctx, opts.Factory, reg, opts.Connection.DialOptions(), reflectHeaders, cacheDir, func(err error) { logger.Warn("descriptor cache", "error", err) })
	if err != nil {
		return nil, nil, err
	}
	var b broker.Broker
	if opts.AllowPublish || opts.AllowReadTopic {
		if b, err = opts.Broker(ctx); err != nil {
			caller.Close()
			return nil, nil, err
		}
	}
	srv, err := mcp.New(mcp.Options{
		Registry:             reg,
		Caller:               caller,
		Broker:               b,
		AllowPublish:         opts.AllowPublish,
		AllowReadTopic:       opts.AllowReadTopic,
		Allow:                opts.Allow,
		Deny:                 opts.Deny,
		ReadOnly:             opts.ReadOnly,
		Headers:              headers,
		Timeout:              opts.Factory.Timeout(),
		DescribeTimeout:      opts.Factory.Timeout(),
		MaxResponseBytes:     opts.MaxResponseBytes,
		MaxStreamMessages:    opts.MaxStreamMessages,
		Descriptions:         opts.Descriptions,
		MaxDescriptionLength: opts.MaxDescriptionLength,
		Name:                 "micro",
		Version:              version.Version,
		Logger:               logger,
	})
	if err != nil {
		caller.Close()
		return nil, nil, err
	}
	return srv, func() { srv.Close(); caller.Close() }, nil
}

func serveRun(ctx context.Context, opts *Options) error {
	ios := opts.Factory.IO
	logger := slog.New(slog.NewTextHandler(ios.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, closeAll, err := newServer(ctx, opts, logger)
	if err != nil {
		return err
	}
	defer closeAll()
	// Each service's description has its own time limit; the first sync
	// as a whole only needs a bound.
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = srv.Start(startCtx)
	cancel()
	if err != nil {
		return err
	}
	if opts.Address == "" {
		err := srv.Run(ctx, &sdk.IOTransport{Reader: io.NopCloser(ios.In), Writer: nopWriteCloser{ios.Out}})
		if err == nil || ctx.Err() != nil || clientGone(err) {
			return nil
		}
		return fmt.Errorf("mcp over stdio: %w", err)
	}
	return serveHTTP(ctx, opts, srv)
}

// serveHTTP serves streamable HTTP until ctx ends.
func serveHTTP(ctx context.Context, opts *Options, srv *mcp.Server) error {
	listener, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return fmt.Errorf("mcp: listen on %s: %w", opts.Address, err)
	}
	hosts, err := api.NewHostCheck(listener.Addr(), opts.AllowedHosts) // checked in RunE
	if err != nil {
		_ = listener.Close()
		return err
	}
	hosts.Named("micro mcp serve", "server")
	httpServer := &http.Server{Handler: srv.HTTPHandler(opts.AuthToken, mcp.WithHostGuard(hosts.Handler)), ReadHeaderTimeout: 10 * time.Second}
	addr := listener.Addr().String()
	fmt.Fprintf(opts.Factory.IO.ErrOut, "micro mcp: listening on http://%s%s\n", addr, mcp.HTTPPath)
	if opts.Ready != nil {
		opts.Ready(addr)
	}
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(listener) }()
	select {
	case err := <-served:
		return fmt.Errorf("mcp: serve http on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpServer.Shutdown(shutdownCtx)
	return nil
}

// clientGone tells whether a stdio session ended because the client closed
// its end: the end of input, or a write to a closed pipe.
func clientGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, sdk.ErrConnectionClosed) ||
		errors.Is(err, io.ErrClosedPipe) || errors.Is(err, syscall.EPIPE)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func toolsRun(ctx context.Context, opts *Options) error {
	ios := opts.Factory.IO
	logger := slog.New(slog.NewTextHandler(ios.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, closeAll, err := newServer(ctx, opts, logger)
	if err != nil {
		return err
	}
	defer closeAll()
	syncCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := srv.Sync(syncCtx); err != nil {
		return err
	}
	tools := srv.Tools()
	if opts.Factory.Output() == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(ios.Out, tools)
	}
	table := cmdutil.NewTable(ios, opts.Factory.Output(), "NAME", "KIND", "SERVICE", "ENDPOINT", "DESCRIPTION")
	for _, t := range tools {
		first, _, _ := strings.Cut(t.Description, "\n")
		table.AddRow(t.Name, t.Kind, orDash(t.Service), orDash(t.Endpoint), first)
	}
	return table.Render()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
