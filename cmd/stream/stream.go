// Package stream implements `micro stream svc.Method [JSON...]` and `micro
// stream SERVICE ENDPOINT [JSON...]`.
package stream

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	microcall "github.com/microtools/micro/cmd/call"
	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
)

// Options are the inputs of `micro stream`.
type Options struct {
	Runtime     callutil.Runtime
	Connection  callutil.ConnectionFlags
	Descriptors callutil.DescriptorFlags
	Request     callutil.RequestFlags

	// Target is what the arguments name; Service and Endpoint are set
	// from it when the call runs.
	Target   callutil.TargetSpec
	Service  string
	Endpoint string
	// Bodies are the JSON arguments; Data the -d value (JSON, @file or @-).
	Bodies []string
	Data   string
	// TimeoutSet: --timeout was given (flag or MICRO_TIMEOUT); a stream
	// has no time limit otherwise.
	TimeoutSet bool
}

// NewCmdStream returns `micro stream`. runF replaces the run function in
// tests.
func NewCmdStream(f *cmdutil.Factory, output func() string, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Runtime: callutil.NewRuntime(f, output)}
	cmd := &cobra.Command{
		Use:   "stream svc.Method [JSON...] | stream SERVICE ENDPOINT [JSON...]",
		Short: "Stream requests to a method and print each response as it comes",
		Long: `Stream requests to a method of a service and print each response as it
arrives: JSON values are read from the arguments or, when there are none,
from stdin (NDJSON or simply concatenated), and each is sent as soon as it
is complete, so that a bidirectional method can be driven line by line
from a terminal. With -o json each response is one line (NDJSON).

Any kind of method can be called: a unary or server-streaming one takes
one request. Unlike micro call, a stream has no time limit unless
--timeout (or MICRO_TIMEOUT) is given. The method is named as for micro
call: svc.Method in one argument (greeter.Chat, greeter.Greeter.Chat), or
SERVICE ENDPOINT. The flags are those of micro call.`,
		Example: `  micro stream greeter.Chat < requests.ndjson
  micro stream greeter Greeter.Chat < requests.ndjson
  micro stream greeter Greeter.Chat '{"name":"Ann"}' '{"name":"Ben"}' -o json
  micro stream greeter Greeter.Stream '{"name":"Ada","count":5,"intervalMs":200}'
  micro stream greeter Greeter.Collect -d @names.ndjson`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return cmdutil.Usagef("%s needs svc.Method, or a service and an endpoint", cmd.CommandPath())
			}
			return nil
		},
		ValidArgsFunction: callutil.CompleteServiceAndEndpoint(f, &opts.Connection, &opts.Descriptors, &opts.Request.HeaderFlags),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := callutil.ParseCallArgs(args)
			if err != nil {
				return err
			}
			opts.Target, opts.Service, opts.Endpoint, opts.Bodies = target, target.Service, target.Endpoint, rest
			opts.TimeoutSet = cmd.Flags().Changed("timeout") || opts.Runtime.TimeoutSet()
			if len(opts.Bodies) > 0 && opts.Data != "" {
				return cmdutil.Usagef("give the requests either as arguments or with -d, not both")
			}
			if err := opts.Connection.Validate(); err != nil {
				return err
			}
			if err := opts.Descriptors.Validate(); err != nil {
				return err
			}
			if err := opts.Request.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return streamRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Data, "data", "d", "", "the requests: JSON values, @FILE to read them from a file, or @- from stdin (the default)")
	opts.Request.Bind(fs)
	opts.Connection.Bind(fs)
	opts.Descriptors.Bind(fs)
	return cmd
}

func streamRun(ctx context.Context, opts *Options) error {
	var input io.Reader
	switch {
	case len(opts.Bodies) > 0:
		input = strings.NewReader(strings.Join(opts.Bodies, "\n"))
	case opts.Data != "":
		in, closeInput, err := microcall.Input(opts.Runtime, "", opts.Data)
		if err != nil {
			return err
		}
		defer closeInput()
		input = in
	default:
		input = opts.Runtime.IO.In
		if opts.Runtime.IO.IsStdinTTY() {
			fmt.Fprintln(opts.Runtime.IO.ErrOut, "micro: reading requests from the terminal, one JSON object per line; end with Ctrl-D")
		}
	}
	c := &callutil.Call{
		Runtime:     opts.Runtime,
		Connection:  &opts.Connection,
		Descriptors: &opts.Descriptors,
		Request:     &opts.Request,
		Target:      opts.Target,
		Service:     opts.Service,
		Endpoint:    opts.Endpoint,
		Input:       input,
		Texts:       opts.Bodies,
	}
	if opts.TimeoutSet {
		c.Timeout = opts.Runtime.Timeout()
	}
	return c.Run(ctx)
}
