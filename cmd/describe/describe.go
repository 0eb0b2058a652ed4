// Package describe implements `micro describe SERVICE [SYMBOL]` and `micro
// describe svc.Symbol`.
package describe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jhump/protoreflect/v2/protoprint"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/call"
)

// Options are the inputs of `micro describe`.
type Options struct {
	Runtime     callutil.Runtime
	Connection  callutil.ConnectionFlags
	Descriptors callutil.DescriptorFlags
	Headers     callutil.HeaderFlags

	// Target is what the arguments name; Service and Symbol are set from
	// it when the command runs.
	Target  callutil.TargetSpec
	Service string
	Symbol  string
}

// NewCmdDescribe returns `micro describe`. runF replaces the run function in
// tests.
func NewCmdDescribe(f *cmdutil.Factory, output func() string, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Runtime: callutil.NewRuntime(f, output)}
	cmd := &cobra.Command{
		Use:   "describe svc[.SYMBOL] | describe SERVICE [SYMBOL]",
		Short: "Show the gRPC services, methods and messages of a service",
		Long: `Show what a service serves: its gRPC services, their methods with how each
streams (unary, server streaming, client streaming, bidi streaming), and
the schemas of the messages they take and return, in .proto syntax.

Only the services the server serves are listed (its reflection list), not
every service declared in their files. SYMBOL narrows it to one service,
method, message or enum: by full name (greeter.v1.HelloRequest), as an
endpoint (Greeter.Hello, greeter.v1.Greeter/Hello), or by its name alone
when that is unambiguous (HelloRequest). An unknown symbol exits 1 and
lists what there is. The service and the symbol may be joined in one
argument as for micro call (greeter.Greeter.Hello); a dotted service name
alone (go.micro.srv.greeter) is the service when it is the registered one.

The descriptors come from the server's reflection through the descriptor
cache, as for micro call, or from --proto / --protoset; -H headers go on
the reflection requests (servers that authenticate reflection). With -o
json the same is written as one JSON object.`,
		Example: `  micro describe greeter
  micro describe greeter.Greeter.Hello
  micro describe greeter Greeter.Hello
  micro describe greeter -H authorization:'Bearer t0k3n'
  micro describe greeter HelloRequest
  micro describe greeter -o json | jq '.services[].methods[].name'`,
		Args:              cmdutil.RangeArgs(1, 2, "a service and at most one symbol"),
		ValidArgsFunction: callutil.CompleteServiceAndEndpoint(f, &opts.Connection, &opts.Descriptors, &opts.Headers),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := callutil.ParseDescribeArgs(args)
			if err != nil {
				return err
			}
			opts.Target, opts.Service, opts.Symbol = target, target.Service, target.Endpoint
			if err := opts.Headers.Validate(); err != nil {
				return err
			}
			if err := opts.Connection.Validate(); err != nil {
				return err
			}
			if err := opts.Descriptors.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return describeRun(cmd.Context(), opts)
		},
	}
	opts.Connection.Bind(cmd.Flags())
	opts.Descriptors.Bind(cmd.Flags())
	opts.Headers.Bind(cmd.Flags())
	_ = cmd.Flags().MarkHidden("rpc-header") // describe makes no call
	return cmd
}

func describeRun(ctx context.Context, opts *Options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Runtime.Timeout())
	defer cancel()
	if opts.Target.Joined != "" {
		target, err := opts.Runtime.ResolveTarget(ctx, opts.Target, opts.Connection.Address, true)
		if err != nil {
			return callutil.Failure{What: "describe " + opts.Target.Joined, Service: opts.Target.Joined}.Error(err)
		}
		opts.Service, opts.Symbol = target.Service, target.Endpoint
	}
	reflectHeaders, err := opts.Headers.Reflection()
	if err != nil {
		return err
	}
	what := "describe " + opts.Service
	if opts.Symbol != "" {
		what += " " + opts.Symbol
	}
	failure := callutil.Failure{What: what, Service: opts.Service, Address: opts.Connection.Address, Timeout: opts.Runtime.Timeout()}
	// --proto and --protoset describe the service without asking anyone.
	src, err := callutil.FixedSource(ctx, &opts.Descriptors)
	if err != nil {
		return failure.Error(err)
	}
	if src == nil {
		client, err := callutil.NewClient(ctx, opts.Runtime, &opts.Connection, &opts.Descriptors, reflectHeaders, func(string) {})
		if err != nil {
			return failure.Error(err)
		}
		defer client.Close()
		if handled, err := callutil.DescribeMucp(ctx, opts.Runtime, client, opts.Service, opts.Symbol); handled {
			return failure.Error(err)
		}
		if src, err = client.Source(ctx, opts.Service); err != nil {
			return failure.Error(err)
		}
	}
	services, err := callutil.UserServices(ctx, src)
	if err != nil {
		return failure.Error(err)
	}
	var roots []protoreflect.Descriptor
	if opts.Symbol == "" {
		for _, name := range services {
			d, err := src.FindSymbol(ctx, name)
			if err != nil {
				return failure.Error(err)
			}
			roots = append(roots, d)
		}
	} else {
		d, err := findSymbol(ctx, src, opts.Service, opts.Symbol, services)
		if err != nil {
			return failure.Error(err)
		}
		roots = append(roots, d)
	}

	desc := collect(roots)
	if opts.Runtime.Output() == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.Runtime.IO.Out, desc.JSON(opts.Service))
	}
	return desc.Write(iostreams.EscapeWriter(opts.Runtime.IO.Out))
}

// findSymbol finds what the user named: a full name, an endpoint, or a name
// without its package when only one thing of the service's files has it.
func findSymbol(ctx context.Context, src call.DescriptorSource, service, symbol string, services []string) (protoreflect.Descriptor, error) {
	name := strings.TrimPrefix(symbol, ".")
	if d, err := src.FindSymbol(ctx, name); err == nil {
		return d, nil
	} else if !errors.Is(err, call.ErrSymbolNotFound) {
		return nil, err
	}
	if strings.Contains(name, "/") {
		return call.FindMethod(ctx, src, service, name)
	}
	// Everything declared in the files of the service's services.
	var matches []protoreflect.Descriptor
	var names []string
	seen := map[protoreflect.FullName]bool{}
	for _, svc := range services {
		d, err := src.FindSymbol(ctx, svc)
		if err != nil {
			return nil, err
		}
		walkFile(d.ParentFile(), func(d protoreflect.Descriptor) {
			if seen[d.FullName()] {
				return
			}
			seen[d.FullName()] = true
			full := string(d.FullName())
			names = append(names, full)
			if full == name || strings.HasSuffix(full, "."+name) {
				matches = append(matches, d)
			}
		})
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		slices.Sort(names)
		return nil, fmt.Errorf("%w: nothing named %q in %s; it has %s", call.ErrSymbolNotFound, symbol, service, strings.Join(names, ", "))
	}
	var found []string
	for _, m := range matches {
		found = append(found, string(m.FullName()))
	}
	return nil, fmt.Errorf("%q is ambiguous in %s: %s; give the full name", symbol, service, strings.Join(found, ", "))
}

// walkFile calls fn for the services, methods, messages and enums of fd,
// nested ones included.
func walkFile(fd protoreflect.FileDescriptor, fn func(protoreflect.Descriptor)) {
	for i := range fd.Services().Len() {
		sd := fd.Services().Get(i)
		fn(sd)
		for j := range sd.Methods().Len() {
			fn(sd.Methods().Get(j))
		}
	}
	var walkMessages func(protoreflect.MessageDescriptors)
	walkEnums := func(eds protoreflect.EnumDescriptors) {
		for i := range eds.Len() {
			fn(eds.Get(i))
		}
	}
	walkMessages = func(mds protoreflect.MessageDescriptors) {
		for i := range mds.Len() {
			md := mds.Get(i)
			if md.IsMapEntry() {
				continue
			}
			fn(md)
			walkMessages(md.Messages())
			walkEnums(md.Enums())
		}
	}
	walkMessages(fd.Messages())
	walkEnums(fd.Enums())
}

// description is what describe prints: services (or one method) and the
// messages and enums they use.
type description struct {
	services []protoreflect.ServiceDescriptor
	methods  []protoreflect.MethodDescriptor // a method asked for alone
	messages []protoreflect.MessageDescriptor
	enums    []protoreflect.EnumDescriptor
}

// collect gathers roots and every message and enum they use, transitively.
func collect(roots []protoreflect.Descriptor) *description {
	desc := &description{}
	seen := map[protoreflect.FullName]bool{}
	var addMessage func(md protoreflect.MessageDescriptor)
	addEnum := func(ed protoreflect.EnumDescriptor) {
		if !seen[ed.FullName()] {
			seen[ed.FullName()] = true
			desc.enums = append(desc.enums, ed)
		}
	}
	addMessage = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		if !md.IsMapEntry() && !wellKnown(md.FullName()) {
			desc.messages = append(desc.messages, md)
		}
		if wellKnown(md.FullName()) {
			return
		}
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			if fd.Message() != nil {
				addMessage(fd.Message())
			}
			if fd.Enum() != nil {
				addEnum(fd.Enum())
			}
		}
	}
	addMethod := func(m protoreflect.MethodDescriptor) {
		addMessage(m.Input())
		addMessage(m.Output())
	}
	for _, root := range roots {
		switch d := root.(type) {
		case protoreflect.ServiceDescriptor:
			desc.services = append(desc.services, d)
			for i := range d.Methods().Len() {
				addMethod(d.Methods().Get(i))
			}
		case protoreflect.MethodDescriptor:
			desc.methods = append(desc.methods, d)
			addMethod(d)
		case protoreflect.MessageDescriptor:
			addMessage(d)
		case protoreflect.EnumDescriptor:
			addEnum(d)
		case protoreflect.EnumValueDescriptor:
			addEnum(d.Parent().(protoreflect.EnumDescriptor))
		case protoreflect.FieldDescriptor:
			if md, ok := d.Parent().(protoreflect.MessageDescriptor); ok {
				addMessage(md)
			}
		}
	}
	return desc
}

// wellKnown tells whether a message is one of google.protobuf's, whose
// schemas are not repeated.
func wellKnown(name protoreflect.FullName) bool {
	return strings.HasPrefix(string(name), "google.protobuf.")
}

// Write writes the description for people: a table of methods per service,
// then the messages and enums in .proto syntax.
func (d *description) Write(w io.Writer) error {
	printer := &protoprint.Printer{Indent: "  ", Compact: true}
	first := true
	section := func() {
		if !first {
			fmt.Fprintln(w)
		}
		first = false
	}
	for _, sd := range d.services {
		section()
		fmt.Fprintf(w, "service %s (%s)\n", sd.FullName(), sd.ParentFile().Path())
		if err := methodTable(w, sd.Methods()); err != nil {
			return err
		}
	}
	for _, md := range d.methods {
		section()
		fmt.Fprintf(w, "method %s (%s)\n", call.FullMethodName(md), callutil.MethodKind(md))
		text, err := printer.PrintProtoToString(md)
		if err != nil {
			return fmt.Errorf("describe %s: %w", md.FullName(), err)
		}
		fmt.Fprint(w, text)
	}
	for _, md := range d.messages {
		section()
		fmt.Fprintf(w, "// %s\n", md.FullName())
		text, err := printer.PrintProtoToString(md)
		if err != nil {
			return fmt.Errorf("describe %s: %w", md.FullName(), err)
		}
		fmt.Fprint(w, text)
	}
	for _, ed := range d.enums {
		section()
		fmt.Fprintf(w, "// %s\n", ed.FullName())
		text, err := printer.PrintProtoToString(ed)
		if err != nil {
			return fmt.Errorf("describe %s: %w", ed.FullName(), err)
		}
		fmt.Fprint(w, text)
	}
	return nil
}

func methodTable(w io.Writer, methods protoreflect.MethodDescriptors) error {
	table := iostreams.NewTable(w, true, "  METHOD", "KIND", "REQUEST", "RESPONSE")
	for i := range methods.Len() {
		md := methods.Get(i)
		table.AddRow("  "+string(md.Name()), callutil.MethodKind(md), string(md.Input().FullName()), string(md.Output().FullName()))
	}
	return table.Render()
}

// JSON shapes of -o json.
type (
	jsonDescription struct {
		Service  string        `json:"service"`
		Services []jsonService `json:"services"`
		Methods  []jsonMethod  `json:"methods,omitempty"`
		Messages []jsonMessage `json:"messages"`
		Enums    []jsonEnum    `json:"enums"`
	}
	jsonService struct {
		Name    string       `json:"name"`
		File    string       `json:"file"`
		Methods []jsonMethod `json:"methods"`
	}
	jsonMethod struct {
		Name            string `json:"name"`
		FullName        string `json:"fullName"`
		Kind            string `json:"kind"`
		ClientStreaming bool   `json:"clientStreaming"`
		ServerStreaming bool   `json:"serverStreaming"`
		Request         string `json:"request"`
		Response        string `json:"response"`
	}
	jsonMessage struct {
		Name   string      `json:"name"`
		File   string      `json:"file"`
		Fields []jsonField `json:"fields"`
	}
	jsonField struct {
		Name     string `json:"name"`
		JSONName string `json:"jsonName"`
		Number   int32  `json:"number"`
		Type     string `json:"type"`
		Repeated bool   `json:"repeated,omitempty"`
		Map      bool   `json:"map,omitempty"`
		Optional bool   `json:"optional,omitempty"`
		Oneof    string `json:"oneof,omitempty"`
	}
	jsonEnum struct {
		Name   string          `json:"name"`
		Values []jsonEnumValue `json:"values"`
	}
	jsonEnumValue struct {
		Name   string `json:"name"`
		Number int32  `json:"number"`
	}
)

// JSON is the description as -o json writes it.
func (d *description) JSON(service string) jsonDescription {
	out := jsonDescription{Service: service, Services: []jsonService{}, Messages: []jsonMessage{}, Enums: []jsonEnum{}}
	for _, sd := range d.services {
		s := jsonService{Name: string(sd.FullName()), File: sd.ParentFile().Path(), Methods: []jsonMethod{}}
		for i := range sd.Methods().Len() {
			s.Methods = append(s.Methods, methodJSON(sd.Methods().Get(i)))
		}
		out.Services = append(out.Services, s)
	}
	for _, md := range d.methods {
		out.Methods = append(out.Methods, methodJSON(md))
	}
	for _, md := range d.messages {
		m := jsonMessage{Name: string(md.FullName()), File: md.ParentFile().Path(), Fields: []jsonField{}}
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			f := jsonField{
				Name:     string(fd.Name()),
				JSONName: fd.JSONName(),
				Number:   int32(fd.Number()),
				Type:     fieldType(fd),
				Repeated: fd.IsList(),
				Map:      fd.IsMap(),
				Optional: fd.HasOptionalKeyword(),
			}
			if oneof := fd.ContainingOneof(); oneof != nil && !oneof.IsSynthetic() {
				f.Oneof = string(oneof.Name())
			}
			m.Fields = append(m.Fields, f)
		}
		out.Messages = append(out.Messages, m)
	}
	for _, ed := range d.enums {
		e := jsonEnum{Name: string(ed.FullName()), Values: []jsonEnumValue{}}
		for i := range ed.Values().Len() {
			v := ed.Values().Get(i)
			e.Values = append(e.Values, jsonEnumValue{Name: string(v.Name()), Number: int32(v.Number())})
		}
		out.Enums = append(out.Enums, e)
	}
	return out
}

func methodJSON(md protoreflect.MethodDescriptor) jsonMethod {
	return jsonMethod{
		Name:            string(md.Name()),
		FullName:        call.FullMethodName(md),
		Kind:            callutil.MethodKind(md),
		ClientStreaming: md.IsStreamingClient(),
		ServerStreaming: md.IsStreamingServer(),
		Request:         string(md.Input().FullName()),
		Response:        string(md.Output().FullName()),
	}
}

// fieldType names a field's type: a scalar kind, or the message or enum
// name; a map is map<key, value>.
func fieldType(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return fmt.Sprintf("map<%s, %s>", fieldType(fd.MapKey()), fieldType(fd.MapValue()))
	}
	switch {
	case fd.Message() != nil:
		return string(fd.Message().FullName())
	case fd.Enum() != nil:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}
