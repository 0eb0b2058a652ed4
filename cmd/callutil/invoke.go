package callutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
	pkgclient "github.com/microtools/micro/pkg/client"
)

// Call is one call from the command line, as `micro call` and `micro
// stream` make it.
type Call struct {
	Factory     *cmdutil.Factory
	Connection  *ConnectionFlags
	Descriptors *DescriptorFlags
	Request     *RequestFlags

	// Target, when it is the one-argument form, is resolved into Service
	// and Endpoint first.
	Target            TargetSpec
	Service, Endpoint string
	// Input holds the requests as JSON values; nil sends none (one empty
	// request to a method that takes one).
	Input io.Reader
	// Texts are the requests as typed on the command line (the JSON
	// arguments), for the quoting hint of a request the shell mangled.
	Texts []string
	// Timeout bounds the whole call; zero means no limit.
	Timeout time.Duration
}

// Run makes the call and writes the responses as they come.
func (c *Call) Run(ctx context.Context) error {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	if c.Target.Joined != "" {
		target, err := ResolveTarget(ctx, c.Target, c.Connection.Address, false, c.Factory.RegistryToRead)
		if err != nil {
			return Failure{What: "call " + c.Target.Joined, Service: c.Target.Joined}.Error(err)
		}
		c.Service, c.Endpoint = target.Service, target.Endpoint
	}
	headers, err := c.Request.RPC()
	if err != nil {
		return err
	}
	reflectHeaders, err := c.Request.Reflection()
	if err != nil {
		return err
	}
	ios := c.Factory.IO
	warn := func(msg string) {
		if c.Request.Verbose {
			fmt.Fprintf(ios.ErrOut, "* warning: %s\n", msg)
		}
	}
	failure := Failure{Service: c.Service, Endpoint: c.Endpoint, Address: c.Connection.Address, Timeout: c.Timeout}
	client, err := NewClient(ctx, c.Factory, c.Connection, c.Descriptors, reflectHeaders, warn)
	if err != nil {
		return failure.Error(err)
	}
	defer client.Close()
	// The registry's answer, a connection to the node the last call left
	// for this one and its descriptors, all at once.
	client.Prepare(ctx, c.Service, c.Endpoint)

	resolver := client.Resolver(c.Service)
	failure.Resolver = resolver
	format := call.NewJSONFormatter(resolver, c.Request.FormatOptions(c.Factory.Output()))
	printer := NewPrinter(ios.Out, ios.ErrOut, format, c.Request.Verbose)
	supplier := call.Messages()
	if c.Input != nil {
		supplier = CheckedSupplier(call.NewJSONSupplier(c.Input, resolver))
	}
	err = client.Call(ctx, c.Service, c.Endpoint, supplier, printer.Handler(),
		call.WithHeaders(headers), call.WithTrace(printer.Trace()))
	if err != nil && c.Connection.Address == "" {
		// The registry was connected to in the background: when that
		// failed, say so rather than how the node choice waited for it.
		if reg, regErr := c.Factory.Registry(ctx); regErr == nil {
			if connectErr := cmdutil.RegistryConnectError(reg); connectErr != nil {
				return failure.Error(connectErr)
			}
		}
	}
	if errors.Is(err, pkgclient.ErrNoDescriptors) {
		// A go-micro service: no node speaks gRPC, nothing was sent.
		return c.callMucpJSON(ctx, client, headers, failure)
	}
	printer.Finish()
	if errors.As(err, new(*InputError)) {
		for _, text := range c.Texts {
			if hint := QuotingHint(text); hint != "" {
				return cmdutil.WithHint(failure.Error(err), hint)
			}
		}
	}
	return failure.Error(err)
}
