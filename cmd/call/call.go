// Package call implements `micro call svc.Method [JSON]` and `micro call
// SERVICE ENDPOINT [JSON]`.
package call

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
)

// Options are the inputs of `micro call`.
type Options struct {
	Factory     *cmdutil.Factory
	Connection  callutil.ConnectionFlags
	Descriptors callutil.DescriptorFlags
	Request     callutil.RequestFlags

	// Target is what the arguments name; Service and Endpoint are set
	// from it when the call runs (the one-argument form asks the registry
	// where the service name ends).
	Target   callutil.TargetSpec
	Service  string
	Endpoint string
	// Body is the JSON argument; Data the -d value (JSON, @file or @-).
	Body string
	Data string
}

// NewCmdCall returns `micro call`. runF replaces the run function in tests.
func NewCmdCall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "call svc.Method [JSON] | call SERVICE ENDPOINT [JSON]",
		Short: "Call a method of a service with a JSON request",
		Long: `Call a method of a service found by name in the registry, with the request
given as JSON, and print the response as JSON.

The method is named in one argument that joins the registered service
name and the method: greeter.Hello (the method of whichever of greeter's
services has it), greeter.Greeter.Hello or greeter.greeter.v1.Greeter.Hello.
Service names may hold dots (go.micro.srv.greeter.Greeter.Hello): the
service is the prefix that is registered; when two prefixes are, the
error says so and asks for the two-argument form. With --address the
service is the first name.

The two-argument form names the service and the ENDPOINT apart: ENDPOINT
is Service.Method (go-micro style, the proto package left out when that is
unambiguous), package.Service.Method or package.Service/Method.

The request is the JSON argument, or -d with JSON, @FILE or @- (stdin);
without one an empty request is sent. A request whose type is a well-known
type takes its JSON form ('"a"' for a StringValue, '"2s"' for a Duration,
'[1,"x"]' for a ListValue). Methods that stream take several JSON values
(NDJSON or simply concatenated) and every response is printed as it comes.

The method is described through the server's reflection, kept in a cache
per service, version and descriptor fingerprint under the user cache
directory, so that the next call asks the server nothing; --proto or
--protoset describe it instead. -H headers go on the reflection requests
too (--rpc-header and --reflect-header for one of them only).

While it reads the registry, a call connects to the node the previous
call of the service left for it (kept next to the descriptor cache) and
uses that connection only when the registry still lists the node. A node
that cannot be reached is left for another (--retries); a call that a
server received is never sent again. A call that fails exits with
64 + its gRPC status code and prints the code, the message and the status
details.`,
		Example: `  micro call greeter.Hello '{"name":"Ada"}'
  micro call greeter.Greeter.Stream '{"name":"Ada","count":3}' -o json
  micro call go.micro.srv.greeter.Greeter.Hello '{"name":"Ada"}'
  micro call greeter Greeter.Hello '{"name":"Ada"}'
  micro call greeter greeter.v1.Greeter/Stream '{"name":"Ada","count":3}' -o json
  micro call greeter.Collect -d @names.ndjson
  echo '{"name":"Ada"}' | micro call greeter.Hello -d @-
  micro call greeter.Hello '{"name":"Ada"}' -H authorization:'Bearer t0k3n' -v
  micro call greeter.Hello --address 127.0.0.1:50051 --proto greeter.proto --import-path api`,
		Args:              cmdutil.RangeArgs(1, 3, "svc.Method (or a service and an endpoint) and at most one JSON request"),
		ValidArgsFunction: callutil.CompleteServiceAndEndpoint(f, &opts.Connection, &opts.Descriptors, &opts.Request.HeaderFlags),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := callutil.ParseCallArgs(args)
			if err != nil {
				return err
			}
			if len(rest) > 1 {
				return cmdutil.Usagef("give one JSON request (micro stream takes several); got %d", len(rest))
			}
			opts.Target, opts.Service, opts.Endpoint = target, target.Service, target.Endpoint
			if len(rest) == 1 {
				opts.Body = rest[0]
			}
			if err := validate(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return callRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Data, "data", "d", "", "the request: JSON, @FILE to read it from a file, or @- from stdin")
	opts.Request.Bind(fs)
	opts.Connection.Bind(fs)
	opts.Descriptors.Bind(fs)
	return cmd
}

func validate(opts *Options) error {
	if opts.Target.Joined == "" {
		if err := callutil.ValidateEndpoint(opts.Endpoint); err != nil {
			return err
		}
	}
	if opts.Body != "" && opts.Data != "" {
		return cmdutil.Usagef("give the request either as an argument or with -d, not both")
	}
	if err := opts.Connection.Validate(); err != nil {
		return err
	}
	if err := opts.Descriptors.Validate(); err != nil {
		return err
	}
	return opts.Request.Validate()
}

func callRun(ctx context.Context, opts *Options) error {
	input, closeInput, err := Input(opts.Factory, opts.Body, opts.Data)
	if err != nil {
		return err
	}
	defer closeInput()
	c := &callutil.Call{
		Factory:     opts.Factory,
		Connection:  &opts.Connection,
		Descriptors: &opts.Descriptors,
		Request:     &opts.Request,
		Target:      opts.Target,
		Service:     opts.Service,
		Endpoint:    opts.Endpoint,
		Input:       input,
		Texts:       typed(opts.Body, opts.Data),
		Timeout:     opts.Factory.Timeout(),
	}
	return c.Run(ctx)
}

// typed is the request as typed on the command line: the argument, or a
// -d value that is not @FILE.
func typed(body, data string) []string {
	switch {
	case body != "":
		return []string{body}
	case data != "" && !strings.HasPrefix(data, "@"):
		return []string{data}
	}
	return nil
}

// Input opens the requests of a call: the JSON argument, or the -d value
// (JSON, @FILE, or @- for stdin). Neither is no input.
func Input(rt *cmdutil.Factory, body, data string) (io.Reader, func(), error) {
	nothing := func() {}
	switch {
	case body != "":
		return strings.NewReader(body), nothing, nil
	case data == "":
		return nil, nothing, nil
	case data == "@-":
		return rt.IO.In, nothing, nil
	case strings.HasPrefix(data, "@"):
		file, err := os.Open(data[1:])
		if err != nil {
			return nil, nil, cmdutil.Usagef("-d %s: %w", data, err)
		}
		return file, func() { file.Close() }, nil
	}
	return strings.NewReader(data), nothing, nil
}
