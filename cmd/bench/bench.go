// Package bench implements `micro bench SERVICE ENDPOINT [JSON]`: a gRPC
// load test of a service found by name through the registry, with the calls
// spread over its nodes by the selector, in the manner of ghz.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/selector"
)

// DefaultCalls is how many calls a run makes when neither -n nor -z is given.
const DefaultCalls = 200

// Options are the inputs of `micro bench`.
type Options struct {
	Factory *cmdutil.Factory

	// Target is what the arguments name (svc.Method, or SERVICE
	// ENDPOINT); Service and Endpoint are set from it when the run starts.
	Target   callutil.TargetSpec
	Service  string
	Endpoint string
	// Body is the JSON argument; Data the -d value (JSON or @file). Either
	// may be a template (see docs/commands/bench.md).
	Body string
	Data string

	Concurrency  int
	Total        int
	Duration     time.Duration
	RPS          float64
	Connections  int
	Strategy     string
	Headers      []string
	MaxP99       time.Duration
	MaxErrorRate float64
	NoProgress   bool

	Conn callutil.ConnectionFlags
	Desc callutil.DescriptorFlags
}

// NewCmdBench returns `micro bench`. runF replaces the run function in tests.
func NewCmdBench(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "bench SERVICE ENDPOINT [JSON]",
		Short: "Load test a service: calls per second, latency percentiles, errors per node",
		Long: `Call ENDPOINT of SERVICE many times at once, through the registry and the
selector (round robin over the nodes by default), and report calls per
second, latency (min, mean, p50, p90, p99, p99.9, max), a histogram, counts
per status code and per node, and the errors seen.

The run ends after -n calls (default 200) or after -z, whichever comes
first; --rps caps the rate. No call starts once the -z time is up, and
the calls the end of the run cuts short are neither failures nor counted.
One unmeasured call first resolves the method. The global --timeout bounds
each call (DeadlineExceeded past it); it is kept by the bench, not sent to
the server as the call's deadline.

The request may be a template: {{.RequestNumber}}, {{.WorkerID}},
{{randomInt 1 100}}, {{randomString 8}}, {{uuid}}, {{now}},
{{mod .RequestNumber 10}}. A request that is no template is encoded once
and sent as those bytes. Responses are checked to be well-formed protobuf,
not decoded (micro call shows them). The Go collector runs at GOGC=400
during the run unless GOGC is set.

The exit status is 1 when any call failed or a --max-p99 or
--max-error-rate threshold was crossed; the summary is printed first.`,
		Example: `  micro bench greeter.Hello '{"name":"Ada"}' -n 10000 -c 50
  micro bench greeter Greeter.Hello '{"name":"Ada"}' -n 10000 -c 50
  micro bench greeter Greeter.Hello '{"name":"user-{{.RequestNumber}}"}' -z 30s --rps 500
  micro bench greeter Greeter.Hello -d @req.json -n 5000 --max-p99 20ms -o json | jq .rps`,
		Args:              cmdutil.RangeArgs(1, 3, "svc.Method (or a service and an endpoint) and, optionally, the request JSON"),
		ValidArgsFunction: callutil.CompleteServiceAndEndpoint(f, &opts.Conn, &opts.Desc, nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := callutil.ParseCallArgs(args)
			if err != nil {
				return err
			}
			if len(rest) > 1 {
				return cmdutil.Usagef("give one JSON request; got %d", len(rest))
			}
			opts.Target, opts.Service, opts.Endpoint = target, target.Service, target.Endpoint
			if len(rest) == 1 {
				opts.Body = rest[0]
			}
			if err := validate(cmd, opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return benchRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.IntVarP(&opts.Concurrency, "concurrency", "c", 10, "how many calls are in flight at once")
	fs.IntVarP(&opts.Total, "total", "n", 0, fmt.Sprintf("how many calls to make (default %d unless -z is given)", DefaultCalls))
	fs.DurationVarP(&opts.Duration, "duration", "z", 0, "how long to run; with -n, the run ends at whichever comes first")
	fs.Float64Var(&opts.RPS, "rps", 0, "at most this many calls per second, in all (0: as fast as they go)")
	fs.IntVar(&opts.Connections, "connections", 1, "how many connections to open to each node; the callers share them")
	fs.StringVar(&opts.Strategy, "strategy", "round-robin", "how nodes are chosen: round-robin, random or least-inflight")
	fs.StringVarP(&opts.Data, "data", "d", "", "the request: JSON or @FILE (either may be a template)")
	fs.StringArrayVarP(&opts.Headers, "header", "H", nil, "request metadata as key:value (repeatable)")
	fs.DurationVar(&opts.MaxP99, "max-p99", 0, "exit 1 when the p99 latency is above this (0: no limit)")
	fs.Float64Var(&opts.MaxErrorRate, "max-error-rate", -1, "exit 1 when this fraction of calls (0 to 1) or more failed, instead of on any failure")
	fs.BoolVar(&opts.NoProgress, "no-progress", false, "no live progress line on a terminal")
	opts.Conn.Bind(fs)
	opts.Desc.Bind(fs)
	return cmd
}

func validate(cmd *cobra.Command, opts *Options) error {
	if opts.Target.Joined == "" {
		if err := callutil.ValidateEndpoint(opts.Endpoint); err != nil {
			return err
		}
	}
	if opts.Body != "" && opts.Data != "" {
		return cmdutil.Usagef("give the request as an argument or with -d, not both")
	}
	if strings.HasPrefix(opts.Data, "@-") {
		return cmdutil.Usagef("-d @-: a load test sends one request again and again; give it as an argument or in a file")
	}
	switch {
	case opts.Concurrency < 1:
		return cmdutil.Usagef("-c %d: want 1 or more callers", opts.Concurrency)
	case opts.Total < 0:
		return cmdutil.Usagef("-n %d: want a number of calls", opts.Total)
	case opts.Duration < 0:
		return cmdutil.Usagef("-z %s: want a positive duration such as 30s", opts.Duration)
	case opts.RPS < 0:
		return cmdutil.Usagef("--rps %g: want a rate of 0 (none) or more", opts.RPS)
	case opts.Connections < 1:
		return cmdutil.Usagef("--connections %d: want 1 or more", opts.Connections)
	case opts.MaxErrorRate > 1:
		return cmdutil.Usagef("--max-error-rate %g: want a fraction between 0 and 1", opts.MaxErrorRate)
	case opts.MaxP99 < 0:
		return cmdutil.Usagef("--max-p99 %s: want a positive duration", opts.MaxP99)
	}
	if !cmd.Flags().Changed("total") && opts.Duration == 0 {
		opts.Total = DefaultCalls
	}
	if opts.Total == 0 && opts.Duration == 0 {
		return cmdutil.Usagef("-n 0 without -z would never end: give -n calls or -z a duration")
	}
	if _, err := strategy(opts.Strategy); err != nil {
		return err
	}
	if err := opts.Conn.Validate(); err != nil {
		return err
	}
	return opts.Desc.Validate()
}

func strategy(name string) (selector.Strategy, error) {
	switch name {
	case "round-robin", "roundrobin":
		return selector.RoundRobin(), nil
	case "random":
		return selector.Random(), nil
	case "least-inflight", "least-in-flight":
		return selector.LeastInFlight(), nil
	}
	return nil, cmdutil.Usagef("--strategy %q: use round-robin, random or least-inflight", name)
}

// ErrThreshold is the error of a run that crossed --max-p99 or
// --max-error-rate, or in which a call failed: the summary has been written.
var ErrThreshold = errors.New("bench: threshold crossed")

func benchRun(ctx context.Context, opts *Options) error {
	rt := opts.Factory
	if opts.Target.Joined != "" {
		target, err := callutil.ResolveTarget(ctx, opts.Target, opts.Conn.Address, false, rt.Registry)
		if err != nil {
			return callutil.Failure{What: "bench " + opts.Target.Joined, Service: opts.Target.Joined}.Error(err)
		}
		opts.Service, opts.Endpoint = target.Service, target.Endpoint
	}
	request, err := readRequest(opts)
	if err != nil {
		return err
	}
	tmpl, err := newRequestTemplate(request)
	if err != nil {
		return cmdutil.Usagef("request template: %w", err)
	}
	md, err := (&callutil.HeaderFlags{Headers: opts.Headers}).RPC()
	if err != nil {
		return err
	}

	clients, closeClients, err := newClients(ctx, opts)
	if err != nil {
		return err
	}
	defer closeClients()

	warn := func(msg string) { fmt.Fprintf(rt.IO.ErrOut, "micro: %s\n", msg) }
	plan := plan{
		service:     opts.Service,
		endpoint:    opts.Endpoint,
		concurrency: opts.Concurrency,
		total:       opts.Total,
		duration:    opts.Duration,
		rps:         opts.RPS,
		timeout:     rt.Timeout(),
		headers:     md,
		template:    tmpl,
	}
	if err := warmUp(ctx, clients[0], plan); err != nil {
		return err
	}

	var progress func(snapshot)
	if rt.IO.IsStderrTTY() && !opts.NoProgress {
		progress = func(s snapshot) { writeProgress(rt.IO.ErrOut, s, plan) }
	}
	// A run makes its garbage per call and keeps almost nothing.
	restoreGC := rt.LessGarbageCollection()
	res := runLoad(ctx, clients, plan, progress)
	restoreGC()
	if progress != nil {
		fmt.Fprint(rt.IO.ErrOut, "\r\033[K")
	}
	if ctx.Err() != nil {
		warn("interrupted: the summary covers the calls made so far")
	}

	summary := summarize(res)
	if rt.Output() == cmdutil.OutputJSON {
		err = cmdutil.WriteJSON(rt.IO.Out, summary)
	} else {
		err = writeSummary(iostreams.EscapeWriter(rt.IO.Out), summary)
	}
	if err != nil {
		return err
	}
	return check(summary, opts)
}

// check applies the thresholds: any failure fails the run unless
// --max-error-rate allows some.
func check(s *Summary, opts *Options) error {
	var problems []string
	switch {
	case s.Count == 0:
		problems = append(problems, "no call was made")
	case opts.MaxErrorRate >= 0:
		if rate := float64(s.Failed) / float64(s.Count); s.Failed > 0 && rate >= opts.MaxErrorRate {
			problems = append(problems, fmt.Sprintf("error rate %.4g is at or above --max-error-rate %g (%d of %d calls failed)", rate, opts.MaxErrorRate, s.Failed, s.Count))
		}
	case s.Failed > 0:
		problems = append(problems, fmt.Sprintf("%d of %d calls failed", s.Failed, s.Count))
	}
	if opts.MaxP99 > 0 && s.Latency.P99 > opts.MaxP99 {
		problems = append(problems, fmt.Sprintf("p99 latency %s is above --max-p99 %s", s.Latency.P99, opts.MaxP99))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrThreshold, strings.Join(problems, "; "))
}

func readRequest(opts *Options) (string, error) {
	switch {
	case opts.Body != "":
		return opts.Body, nil
	case strings.HasPrefix(opts.Data, "@"):
		data, err := os.ReadFile(opts.Data[1:])
		if err != nil {
			return "", cmdutil.Usagef("-d %s: %w", opts.Data, err)
		}
		return string(data), nil
	case opts.Data != "":
		return opts.Data, nil
	}
	return "{}", nil
}

// newClients builds --connections clients that share one selector, so that
// the strategy spreads calls over the nodes across all of them, and a
// function that closes them all.
func newClients(ctx context.Context, opts *Options) ([]*client.Client, func(), error) {
	rt := opts.Factory
	base := client.Options{
		Address: opts.Conn.Address,
		Dial:    opts.Conn.DialOptions(),
		Retries: opts.Conn.Retries,
		Refresh: opts.Desc.Refresh,
	}
	// -H goes on the reflection requests too.
	if md, err := (&callutil.HeaderFlags{Headers: opts.Headers}).Reflection(); err == nil {
		base.ReflectionHeaders = md
	}
	if opts.Conn.Retries == 0 {
		base.Retries = -1
	}
	src, err := callutil.FixedSource(ctx, &opts.Desc)
	switch {
	case err != nil:
		return nil, nil, err
	case src != nil:
		base.Source = src
	case !opts.Desc.NoCache:
		if dir, err := rt.DescriptorCacheDir(); err == nil {
			base.CacheDir = dir
			base.OnCacheWriteError = func(err error) { fmt.Fprintf(rt.IO.ErrOut, "micro: %v\n", err) }
		}
	}
	var sel *selector.Cache
	if opts.Conn.Address == "" {
		reg, err := rt.Registry(ctx)
		if err != nil {
			return nil, nil, err
		}
		strat, err := strategy(opts.Strategy)
		if err != nil {
			return nil, nil, err
		}
		sel, err = selector.New(selector.Registry(reg), selector.UseStrategy(strat))
		if err != nil {
			return nil, nil, err
		}
		base.Registry = reg
		base.Selector = sel
	}
	var clients []*client.Client
	closeAll := func() {
		for _, c := range clients {
			_ = c.Close()
		}
		if sel != nil {
			_ = sel.Close()
		}
	}
	for range opts.Connections {
		c, err := rt.Client(ctx, callutil.ClientOptions(base, &opts.Conn))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		clients = append(clients, c)
	}
	return clients, closeAll, nil
}

// warmUp makes one unmeasured call: it resolves the method and connects,
// and it turns a service or method that cannot be called into one clear
// error instead of a run of failures.
func warmUp(ctx context.Context, client *client.Client, p plan) error {
	req, err := p.template.render(0, 0)
	if err != nil {
		return cmdutil.Usagef("request: %w", err)
	}
	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	err = client.Call(callCtx, p.service, p.endpoint,
		callutil.CheckedSupplier(call.NewJSONSupplier(strings.NewReader(req), client.Resolver(p.service))), nil,
		call.WithHeaders(p.headers))
	return callutil.Failure{
		What:     fmt.Sprintf("bench %s %s: the first call", p.service, p.endpoint),
		Service:  p.service,
		Endpoint: p.endpoint,
		Timeout:  p.timeout,
		Resolver: client.Resolver(p.service),
	}.Error(err)
}
