package brokerutil

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
)

// TypeFlags name a protobuf message type and where its descriptors come
// from: .proto files, protosets (the descriptor flags of `micro call`), or
// a running service asked through reflection, reached with the TLS flags
// of `micro call`.
type TypeFlags struct {
	Type    string
	Reflect string
	callutil.DescriptorFlags
	// Connection holds the TLS flags of the --reflect service (and the
	// connect timeout of `micro call`).
	Connection callutil.ConnectionFlags
}

// Bind adds the flags to fs; typeUsage explains --type for the command.
func (f *TypeFlags) Bind(fs *pflag.FlagSet, typeUsage string) {
	fs.StringVar(&f.Type, "type", "", typeUsage)
	f.DescriptorFlags.BindFiles(fs, "the .proto file that defines the message types (repeatable)", "compiled FileDescriptorSet that defines the message types (repeatable)")
	fs.StringVar(&f.Reflect, "reflect", "", "ask this registered service for the message types through gRPC reflection (with --tls, --cacert, --cert, --key, --insecure, --authority to reach it)")
	f.Connection.BindTLS(fs)
	f.Connection.ConnectTimeout = callutil.DefaultConnectTimeout
}

// HasSource reports whether a descriptor source was given.
func (f *TypeFlags) HasSource() bool {
	return len(f.Protos) > 0 || len(f.Protosets) > 0 || f.Reflect != ""
}

// Validate reports flags that cannot work, as usage errors. needSource
// makes --type without a descriptor source one of them.
func (f *TypeFlags) Validate(needSource bool) error {
	sources := 0
	for _, given := range []bool{len(f.Protos) > 0, len(f.Protosets) > 0, f.Reflect != ""} {
		if given {
			sources++
		}
	}
	switch {
	case sources > 1:
		return cmdutil.Usagef("--proto, --protoset and --reflect are three ways to find the message types: give one")
	case f.Reflect == "" && (f.Connection.TLS || f.Connection.CACert != "" || f.Connection.Cert != "" || f.Connection.Insecure || f.Connection.Authority != ""):
		return cmdutil.Usagef("--tls, --cacert, --cert, --insecure and --authority say how to reach the --reflect service: give --reflect, or leave them out")
	case f.Type != "" && strings.ContainsAny(f.Type, " /\t"):
		return cmdutil.Usagef("--type %q: want a fully qualified message name such as greeter.v1.Greeted", f.Type)
	case needSource && f.Type != "" && sources == 0:
		return cmdutil.Usagef("--type %s needs the message's descriptors: --proto FILE, --protoset FILE or --reflect SERVICE", f.Type)
	}
	if err := f.DescriptorFlags.Validate(); err != nil {
		return err
	}
	if f.Connection.ConnectTimeout == 0 {
		f.Connection.ConnectTimeout = callutil.DefaultConnectTimeout
	}
	return f.Connection.Validate()
}

// Types finds message types in a descriptor source and converts messages
// between JSON and the protobuf binary encoding. It is safe for concurrent
// use; Close it when done.
type Types struct {
	source   call.DescriptorSource
	resolver call.Resolver
	format   call.Formatter
	origin   string
	close    func() error

	mu    sync.Mutex
	found map[string]protoreflect.MessageType // nil: not found
}

// Load opens the descriptor source the flags name, or returns nil when they
// name none. newClient builds the client that asks the --reflect service
// (cmdutil.Factory.Client, which finds it in the registry).
func (f *TypeFlags) Load(ctx context.Context, newClient func(context.Context, client.Options) (*client.Client, error)) (*Types, error) {
	var (
		src    call.DescriptorSource
		origin string
		closer = func() error { return nil }
	)
	switch {
	case len(f.Protos) > 0 || len(f.Protosets) > 0:
		s, err := callutil.FixedSource(ctx, &f.DescriptorFlags)
		if err != nil {
			return nil, err
		}
		src = s
		if st, ok := s.(fmt.Stringer); ok {
			origin = st.String()
		}
	case f.Reflect != "":
		if f.Connection.ConnectTimeout == 0 {
			f.Connection.ConnectTimeout = callutil.DefaultConnectTimeout
		}
		client, err := newClient(ctx, callutil.ClientOptions(client.Options{Dial: f.Connection.DialOptions(), Retries: -1}, &f.Connection))
		if err != nil {
			return nil, err
		}
		s, err := client.Source(ctx, f.Reflect)
		if err != nil {
			_ = client.Close()
			if errors.Is(err, registry.ErrNotFound) {
				return nil, cmdutil.WithHint(fmt.Errorf("--reflect %s: %w", f.Reflect, err), "see what is registered with `micro list services`, or name the types with --proto or --protoset")
			}
			return nil, fmt.Errorf("--reflect %s: %w", f.Reflect, err)
		}
		src, origin, closer = s, "service "+f.Reflect+" (reflection)", client.Close
	default:
		return nil, nil
	}
	resolver := call.NewResolver(context.WithoutCancel(ctx), src)
	return &Types{
		source:   src,
		resolver: resolver,
		format:   call.NewJSONFormatter(resolver, call.FormatOptions{}),
		origin:   origin,
		close:    closer,
		found:    map[string]protoreflect.MessageType{},
	}, nil
}

// Close releases the connections of a --reflect source.
func (t *Types) Close() error {
	if t == nil {
		return nil
	}
	return t.close()
}

// Origin says where the descriptors come from: "proto files x.proto".
func (t *Types) Origin() string { return t.origin }

// ErrUnknownType is wrapped by the error of Message for a name that the
// descriptors do not define as a message.
var ErrUnknownType = errors.New("unknown message type")

// Message returns the message type of a fully qualified name. A name the
// source does not know as a message is an error that wraps ErrUnknownType
// and lists the message types of a file source that end alike.
func (t *Types) Message(ctx context.Context, name string) (protoreflect.MessageType, error) {
	name = strings.TrimPrefix(name, ".")
	t.mu.Lock()
	defer t.mu.Unlock()
	if mt, ok := t.found[name]; ok {
		if mt == nil {
			return nil, fmt.Errorf("%w %q in %s", ErrUnknownType, name, t.origin)
		}
		return mt, nil
	}
	d, err := t.source.FindSymbol(ctx, name)
	if err != nil && !errors.Is(err, call.ErrSymbolNotFound) {
		return nil, fmt.Errorf("find message type %q in %s: %w", name, t.origin, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok && d == nil {
		// The well-known types, which the files need not import.
		if mt, err := t.resolver.FindMessageByName(protoreflect.FullName(name)); err == nil {
			t.found[name] = mt
			return mt, nil
		}
	}
	if !ok {
		t.found[name] = nil
		what := ""
		if d != nil {
			what = fmt.Sprintf(" (it is a %s, not a message)", kindOf(d))
		}
		return nil, fmt.Errorf("%w %q%s in %s%s", ErrUnknownType, name, what, t.origin, t.suggest(name))
	}
	mt := dynamicpb.NewMessageType(md)
	t.found[name] = mt
	return mt, nil
}

// suggest lists the messages of a file source, those whose short name
// matches first.
func (t *Types) suggest(name string) string {
	fs, ok := t.source.(*call.FileSource)
	if !ok {
		return ""
	}
	short := name[strings.LastIndexByte(name, '.')+1:]
	var alike, all []string
	var walk func(protoreflect.MessageDescriptors)
	walk = func(msgs protoreflect.MessageDescriptors) {
		for i := range msgs.Len() {
			md := msgs.Get(i)
			if md.IsMapEntry() {
				continue
			}
			full := string(md.FullName())
			all = append(all, full)
			if strings.EqualFold(string(md.Name()), short) {
				alike = append(alike, full)
			}
			walk(md.Messages())
		}
	}
	fs.Files().RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "google.protobuf") {
			walk(fd.Messages())
		}
		return true
	})
	switch {
	case len(alike) > 0:
		return "; did you mean " + strings.Join(alike, " or ") + "?"
	case len(all) == 0:
		return "; it defines no messages"
	}
	slices.Sort(all)
	if len(all) > 10 {
		all = append(all[:10], "...")
	}
	return "; it defines " + strings.Join(all, ", ")
}

func kindOf(d protoreflect.Descriptor) string {
	switch d.(type) {
	case protoreflect.ServiceDescriptor:
		return "service"
	case protoreflect.MethodDescriptor:
		return "method"
	case protoreflect.EnumDescriptor:
		return "enum"
	case protoreflect.EnumValueDescriptor:
		return "enum value"
	case protoreflect.FieldDescriptor:
		return "field"
	case protoreflect.FileDescriptor:
		return "file"
	}
	return "descriptor"
}

// Encode reads body as JSON of type mt (the protobuf JSON mapping, strict:
// unknown fields and values of the wrong type are errors naming where they
// are) and returns its binary protobuf encoding.
func (t *Types) Encode(mt protoreflect.MessageType, body []byte) ([]byte, error) {
	msg := mt.New().Interface()
	if err := call.ParseJSON(body, msg, t.resolver); err != nil {
		return nil, err
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", mt.Descriptor().FullName(), err)
	}
	return data, nil
}

// Decode reads body as the binary protobuf encoding of mt and returns it as
// compact JSON.
func (t *Types) Decode(mt protoreflect.MessageType, body []byte) ([]byte, error) {
	msg := mt.New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: t.resolver}).Unmarshal(body, msg); err != nil {
		return nil, fmt.Errorf("decode %s: %w", mt.Descriptor().FullName(), err)
	}
	return t.format(msg)
}
