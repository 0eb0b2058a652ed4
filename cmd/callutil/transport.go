package callutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/transport"
	httptransport "github.com/microtools/micro/pkg/transport/http"
)

// Transports --transport takes, for a node given with --address.
var addressTransports = []string{"grpc", "http"}

// ClientOptions are opts, the options of the pkg/client Client a command
// calls through (cmdutil.Factory.Client; see NewClient), with what the
// connection flags say of the transports: the transport of each node is
// chosen from its metadata, --transport says it for --address, and
// --connect-timeout bounds the HTTP transport's connections too.
func ClientOptions(opts client.Options, conn *ConnectionFlags) client.Options {
	opts.AddressTransport = conn.Transport
	opts.HTTP = httptransport.Options{ConnectTimeout: conn.ConnectTimeout}
	return opts
}

// ValidateTransport checks --transport.
func ValidateTransport(name string) error {
	if name == "" || slices.Contains(addressTransports, name) {
		return nil
	}
	return cmdutil.Usagef("--transport %q: want grpc or http (go-micro's mucp)", name)
}

// callMucpJSON calls a node of a go-micro service with the JSON of the
// input as it is: go-micro endpoints often have no proto, and the node has
// no reflection. The endpoint is matched against the registry record's.
func (c *Call) callMucpJSON(ctx context.Context, cl *client.Client, headers metadata.MD, failure Failure) error {
	endpoint := c.Endpoint
	if c.Connection.Address == "" {
		reg, err := c.Factory.Registry(ctx)
		if err != nil {
			return failure.Error(err)
		}
		endpoints, _, err := client.Endpoints(ctx, reg, c.Service)
		if err != nil {
			return failure.Error(err)
		}
		if endpoint, err = client.ResolveMucpEndpoint(endpoints, c.Endpoint); err != nil {
			return failure.Error(cmdutil.WithHint(err, "see its endpoints with `micro describe "+c.Service+"`"))
		}
		for _, ep := range endpoints {
			if ep != nil && ep.Name == endpoint && ep.Metadata["stream"] == "true" {
				return failure.Error(fmt.Errorf("%s streams, and the nodes of %s speak go-micro's mucp over http: %w", endpoint, c.Service, transport.ErrStreamsUnsupported))
			}
		}
	} else {
		endpoint, _ = client.ResolveMucpEndpoint(nil, c.Endpoint)
	}
	var body []byte
	if c.Input != nil {
		data, err := io.ReadAll(c.Input)
		if err != nil {
			return failure.Error(&InputError{Err: fmt.Errorf("read the request: %w", err)})
		}
		body = bytes.TrimSpace(data)
		if len(body) > 0 && !json.Valid(body) {
			return failure.Error(&InputError{Err: errors.New("the request is not JSON (go-micro endpoints take one JSON value)")})
		}
	}
	ios := c.Factory.IO
	if c.Request.Verbose {
		fmt.Fprintf(ios.ErrOut, "* %s speaks go-micro's mucp over http: sending the JSON as it is to %s\n", c.Service, endpoint)
	}
	resp, err := cl.CallJSON(ctx, c.Service, endpoint, body, headers)
	if err != nil {
		return failure.Error(err)
	}
	if c.Request.Verbose {
		for _, failed := range resp.Failed {
			fmt.Fprintf(ios.ErrOut, "* failed; tried another node: %v\n", failed)
		}
		fmt.Fprintf(ios.ErrOut, "* node %s at %s answered\n", resp.Node.ID, resp.Node.Address)
	}
	var out bytes.Buffer
	resp.Body = bytes.TrimSpace(resp.Body)
	if c.Factory.Output() == cmdutil.OutputJSON {
		err = json.Compact(&out, resp.Body)
	} else {
		err = json.Indent(&out, resp.Body, "", "  ")
	}
	if err != nil {
		out.Reset()
		out.Write(resp.Body)
	}
	out.WriteByte('\n')
	if _, err := ios.Out.Write(out.Bytes()); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// transportFailure reports the errors of pkg/transport: a server's error
// answer exits 64 + its gRPC code (go-micro's HTTP-style code mapped to
// the nearest one) with its detail on one line; a node that could not be
// reached exits 64 + Unavailable.
func (f Failure) transportFailure(what string, err error) (error, bool) {
	var te *transport.Error
	if errors.As(err, &te) && te.Transport == transport.NameHTTP {
		msg := fmt.Sprintf("%s: %s at %s: code %s (%d): %s", what, te.Method, te.Address, te.Code, uint32(te.Code), oneLine(te.Detail))
		if te.MicroCode != 0 || te.ID != "" {
			msg += fmt.Sprintf(" (go-micro error %d %s from %s)", te.MicroCode, te.MicroStatus, te.ID)
		}
		var attempts *client.AttemptsError
		if errors.As(err, &attempts) && len(attempts.Errors) > 1 {
			msg += fmt.Sprintf(" (after %s: %s)", plural(len(attempts.Errors)-1, "failed attempt"), earlier(attempts))
		}
		return &ExitError{Err: errors.New(msg), Code: rpcExit(te.Code)}, true
	}
	var ce *transport.ConnectError
	if errors.As(err, &ce) {
		return &ExitError{Err: cmdutil.WithHint(fmt.Errorf("%s: %w", what, err), f.connectHint(err)), Code: rpcExit(codes.Unavailable)}, true
	}
	if errors.Is(err, transport.ErrStreamsUnsupported) {
		return cmdutil.WithHint(fmt.Errorf("%s: %w", what, err), "call a unary endpoint with `micro call`"), true
	}
	return nil, false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// DescribeRecord writes the endpoints of a service as its registry record
// describes them (go-micro services without descriptors), one block per
// endpoint with its request and response fields.
func DescribeRecord(w io.Writer, svc *registry.Service, endpoints []*registry.Endpoint, symbol string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (from the registry record; the nodes speak go-micro's mucp and have no reflection)\n", svc.Name)
	found := false
	for _, ep := range endpoints {
		if ep == nil {
			continue
		}
		if symbol != "" && ep.Name != symbol && !strings.HasSuffix(ep.Name, "."+symbol) {
			continue
		}
		found = true
		stream := ""
		if ep.Metadata["stream"] == "true" {
			stream = " (stream)"
		}
		fmt.Fprintf(&b, "  %s(%s) returns (%s)%s\n", ep.Name, typeName(ep.Request), typeName(ep.Response), stream)
		writeValue(&b, "request", ep.Request)
		writeValue(&b, "response", ep.Response)
	}
	if symbol != "" && !found {
		return fmt.Errorf("%s has no endpoint %q in its registry record", svc.Name, symbol)
	}
	if len(endpoints) == 0 {
		b.WriteString("  no endpoints in the record\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func typeName(v *registry.Value) string {
	if v == nil {
		return ""
	}
	return v.Type
}

func writeValue(b *strings.Builder, title string, v *registry.Value) {
	if v == nil || len(v.Values) == 0 {
		return
	}
	fmt.Fprintf(b, "    %s %s {\n", title, v.Type)
	for _, f := range v.Values {
		writeField(b, f, "      ")
	}
	b.WriteString("    }\n")
}

func writeField(b *strings.Builder, v *registry.Value, indent string) {
	fmt.Fprintf(b, "%s%s %s\n", indent, v.Name, v.Type)
	for _, child := range v.Values {
		writeField(b, child, indent+"  ")
	}
}

// Fixed tells whether --proto or --protoset describe the services.
func (f *DescriptorFlags) Fixed() bool { return len(f.Protos) > 0 || len(f.Protosets) > 0 }

// mucpEndpoints lists the endpoints of a go-micro service from its
// registry record, when its nodes speak mucp and no descriptors are given.
func mucpEndpoints(ctx context.Context, rt *cmdutil.Factory, cl *client.Client, desc *DescriptorFlags, service string) ([]string, bool) {
	if desc.Fixed() {
		return nil, false
	}
	if kind, err := cl.Kind(ctx, service); err != nil || kind != client.KindMucp {
		return nil, false
	}
	reg, err := rt.Registry(ctx)
	if err != nil {
		return nil, true
	}
	endpoints, _, err := client.Endpoints(ctx, reg, service)
	if err != nil {
		return nil, true
	}
	var names []string
	for _, ep := range endpoints {
		if ep != nil {
			names = append(names, ep.Name)
		}
	}
	return names, true
}

// DescribeMucp describes a service whose nodes speak go-micro's mucp from
// its registry record, since they have no reflection; handled is false for
// other services. With -o json it writes the record's endpoints.
func DescribeMucp(ctx context.Context, rt *cmdutil.Factory, cl *client.Client, service, symbol string) (handled bool, err error) {
	kind, err := cl.Kind(ctx, service)
	if err != nil || kind != client.KindMucp {
		return false, nil
	}
	reg, err := rt.Registry(ctx)
	if err != nil {
		return true, err
	}
	endpoints, record, err := client.Endpoints(ctx, reg, service)
	if err != nil {
		return true, err
	}
	if rt.Output() == cmdutil.OutputJSON {
		out := struct {
			Service   string               `json:"service"`
			Source    string               `json:"source"`
			Endpoints []*registry.Endpoint `json:"endpoints"`
		}{service, "registry record (go-micro mucp)", endpoints}
		if symbol != "" {
			out.Endpoints = nil
			for _, ep := range endpoints {
				if ep != nil && (ep.Name == symbol || strings.HasSuffix(ep.Name, "."+symbol)) {
					out.Endpoints = append(out.Endpoints, ep)
				}
			}
			if len(out.Endpoints) == 0 {
				return true, fmt.Errorf("%s has no endpoint %q in its registry record", service, symbol)
			}
		}
		return true, cmdutil.WriteJSON(rt.IO.Out, out)
	}
	if record == nil {
		record = &registry.Service{Name: service}
	}
	return true, DescribeRecord(rt.IO.Out, record, endpoints, symbol)
}
