// Package api implements `micro api`: the HTTP gateway of pkg/api over the
// registry and the client (pkg/client) that `micro call` uses.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/httpfast"
)

// DefaultAddress is where `micro api` listens.
const DefaultAddress = "127.0.0.1:8080"

// EnvAllowedHosts is the environment variable read for --allowed-host
// (comma-separated) when the flag is not given.
const EnvAllowedHosts = "MICRO_API_ALLOWED_HOSTS"

// Options are the inputs of `micro api`.
type Options struct {
	Factory *cmdutil.Factory

	Address       string
	AuthToken     string
	AuthTokenFile string
	CORSOrigins   []string
	Headers       []string
	MaxBodyBytes  int64
	MaxTimeout    time.Duration
	LogFormat     string
	NoCache       bool
	// Open prints the console's URL on stdout once the gateway listens.
	Open bool
	// NoConsole leaves the web console (/ui/) out.
	NoConsole bool
	// Broker is what the console's topics page uses.
	Broker func(context.Context) (broker.Broker, error)

	// AllowedHosts are the Host names served besides the loopback ones
	// (api.HostCheck: DNS rebinding protection).
	AllowedHosts []string

	// ready, when set, is told the address the gateway listens on (tests).
	ready func(addr string)
}

// NewCmdAPI returns `micro api`. runF replaces the run function in tests.
func NewCmdAPI(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	opts.Broker = func(ctx context.Context) (broker.Broker, error) { return f.Broker(ctx) }
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve every registered service over HTTP: JSON, Connect, gRPC-Web, OpenAPI",
		Long: `Run an HTTP gateway (HTTP/1.1 and h2c) in front of every service in the
registry, with no generated code and no per-service configuration:

  POST /{service}/{Service.Method}       JSON in and out (go-micro's routes;
  POST /{service}/{Service}/{Method}     server streams as NDJSON, or SSE
                                         with Accept: text/event-stream)
  POST /{package.Service}/{Method}       Connect (application/json,
                                         application/proto, connect+json,
                                         connect+proto) and gRPC-Web
  GET  /  /{service}  /openapi.json      services, schemas, OpenAPI 3.1
  GET  /events  /healthz  /metrics       registry events (SSE), health,
                                         Prometheus metrics
  GET  /ui/                              the web console (services, calls,
                                         topics, load); --open prints its URL

Only services in the registry are reachable. Request headers in the allow
list (--header; Authorization and X-* by default) go to the service as gRPC
metadata and response metadata comes back as headers. --timeout bounds each
call unless the request asks for another limit (Connect-Timeout-Ms,
Grpc-Timeout). Browsers may call from the --cors-origin origins only.
On a loopback address only requests with Host localhost, 127.0.0.1, [::1]
or an --allowed-host name are served (DNS rebinding protection); beyond
loopback, any Host unless --allowed-host lists some (but requests that
come in over loopback are held to the loopback and listed names).
With --auth-token every request but GET /healthz needs
"Authorization: Bearer TOKEN". One access log line per request goes to
stderr (gathered and written out every 50ms). The Go collector runs at
GOGC=400 unless GOGC is set. See docs/commands/api.md.`,
		Example: `  micro api
  curl -d '{"name":"Ada"}' http://127.0.0.1:8080/greeter/Greeter.Hello
  curl -N -H 'Accept: text/event-stream' -d '{"name":"Ada","count":3}' http://127.0.0.1:8080/greeter/Greeter.Stream
  micro api --address 0.0.0.0:8080 --auth-token-file /run/secrets/api-token --cors-origin https://app.example.com`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("allowed-host") {
				opts.AllowedHosts = f.EnvList(EnvAllowedHosts)
			}
			if err := validate(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return apiRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Address, "address", DefaultAddress, "host:port to listen on")
	fs.StringVar(&opts.AuthToken, "auth-token", "", "require Authorization: Bearer TOKEN on every request but GET /healthz")
	fs.StringVar(&opts.AuthTokenFile, "auth-token-file", "", "read the --auth-token from this file (keeps it out of the process list)")
	fs.StringSliceVar(&opts.CORSOrigins, "cors-origin", nil, "origin browsers may call from (scheme://host[:port], or *); repeat or separate with commas")
	fs.StringSliceVar(&opts.AllowedHosts, "allowed-host", nil, "a Host name served besides localhost, 127.0.0.1 and [::1] (DNS rebinding protection; * for any); repeat or separate with commas [$"+EnvAllowedHosts+"]")
	fs.StringSliceVar(&opts.Headers, "header", api.DefaultHeaders(), "request headers passed to services as metadata, and response metadata passed back: names or prefixes ending in *")
	fs.Int64Var(&opts.MaxBodyBytes, "max-body", api.DefaultMaxBodyBytes, "largest request body, in bytes (larger: 413)")
	fs.DurationVar(&opts.MaxTimeout, "max-timeout", 0, "cap on the time limit a request may ask for with Connect-Timeout-Ms or Grpc-Timeout (0: none)")
	fs.StringVar(&opts.LogFormat, "log-format", "text", "access log format on stderr: text, json or none")
	fs.BoolVar(&opts.NoCache, "no-cache", false, "do not keep descriptors in the on-disk cache")
	fs.BoolVar(&opts.Open, "open", false, "print the web console's URL on stdout once listening")
	fs.BoolVar(&opts.NoConsole, "no-console", false, "do not serve the web console at /ui/")
	return cmd
}

func validate(opts *Options) error {
	if _, _, err := net.SplitHostPort(opts.Address); err != nil {
		return cmdutil.Usagef("--address %q is not host:port", opts.Address)
	}
	if opts.AuthToken != "" && opts.AuthTokenFile != "" {
		return cmdutil.Usagef("give --auth-token or --auth-token-file, not both")
	}
	if _, err := api.NewHostCheck(nil, opts.AllowedHosts); err != nil {
		return cmdutil.Usagef("--allowed-host: %v", err)
	}
	switch opts.LogFormat {
	case "text", "json", "none":
	default:
		return cmdutil.Usagef("--log-format %q: want text, json or none", opts.LogFormat)
	}
	if opts.MaxBodyBytes <= 0 {
		return cmdutil.Usagef("--max-body %d: want a positive number of bytes", opts.MaxBodyBytes)
	}
	return nil
}

func apiRun(ctx context.Context, opts *Options) error {
	token := opts.AuthToken
	if opts.AuthTokenFile != "" {
		data, err := os.ReadFile(opts.AuthTokenFile)
		if err != nil {
			return cmdutil.Usagef("--auth-token-file: %v", err)
		}
		if token = strings.TrimSpace(string(data)); token == "" {
			return cmdutil.Usagef("--auth-token-file %s is empty", opts.AuthTokenFile)
		}
	}
	// A gateway's live heap is small and it makes its garbage per request.
	defer opts.Factory.LessGarbageCollection()()
	errOut := opts.Factory.IO.ErrOut
	// The access log is gathered and written out every 50ms, not once a
	// request.
	accessLog := api.NewLogWriter(errOut, api.DefaultLogDelay)
	defer accessLog.Close()
	// slog's text or JSON form; the gateway writes its request lines
	// without slog's work per attribute.
	var logger *slog.Logger
	switch opts.LogFormat {
	case "text":
		logger = api.NewAccessLog(accessLog, false)
	case "json":
		logger = api.NewAccessLog(accessLog, true)
	}

	reg, err := opts.Factory.Registry(ctx)
	if err != nil {
		return err
	}
	clientOpts := client.Options{Registry: reg}
	if !opts.NoCache {
		dir, err := opts.Factory.DescriptorCacheDir()
		if err != nil {
			fmt.Fprintf(errOut, "micro api: no descriptor cache: %v\n", err)
		}
		clientOpts.CacheDir = dir
		clientOpts.OnCacheWriteError = func(err error) { fmt.Fprintf(errOut, "micro api: %v\n", err) }
	}
	cl, err := opts.Factory.Client(ctx, clientOpts)
	if err != nil {
		return err
	}
	defer cl.Close()

	listener, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w; choose another with --address", opts.Address, err)
	}
	defer listener.Close()
	hosts, _ := api.NewHostCheck(listener.Addr(), opts.AllowedHosts) // checked in validate
	gw, err := api.New(api.Options{
		Registry:     reg,
		Client:       gatewayClient{client: cl},
		Headers:      opts.Headers,
		MaxBodyBytes: opts.MaxBodyBytes,
		Timeout:      opts.Factory.Timeout(),
		MaxTimeout:   opts.MaxTimeout,
		CORSOrigins:  opts.CORSOrigins,
		Hosts:        hosts,
		AuthToken:    token,
		Logger:       logger,
	})
	if err != nil {
		return cmdutil.Usagef("%v", err)
	}
	defer gw.Close()
	if !opts.NoConsole {
		if err := mountConsole(ctx, gw, opts, errOut); err != nil {
			return err
		}
	}

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           gw,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.New(slog.NewTextHandler(errOut, nil)).Handler(), slog.LevelWarn),
	}
	addr := listener.Addr().String()
	fmt.Fprintf(errOut, "micro api: listening on http://%s (registry %s); Ctrl-C to stop\n", addr, reg)
	if opts.Open && !opts.NoConsole {
		fmt.Fprintf(opts.Factory.IO.Out, "http://%s%s\n", addr, api.ConsolePath)
	}
	if opts.ready != nil {
		opts.ready(addr)
	}
	// The usual shape of API request takes a path without net/http's work
	// per request; every other connection is srv's (pkg/httpfast).
	fast := &httpfast.Server{Handler: gw, Fallback: srv, ReadHeaderTimeout: srv.ReadHeaderTimeout, IdleTimeout: srv.IdleTimeout}
	served := make(chan error, 1)
	go func() { served <- fast.Serve(listener) }()
	select {
	case err := <-served:
		return fmt.Errorf("api: serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	_ = accessLog.Flush()
	fmt.Fprintln(errOut, "micro api: stopping")
	_ = gw.Close() // ends the event streams
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fast.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("api: stop: %w", err)
	}
	_ = fast.Close()
	_ = accessLog.Close()
	fmt.Fprintln(errOut, "micro api: stopped")
	return nil
}
