package call

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/runtime/protoiface"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Resolver finds message and extension types by name, as protojson needs to
// read and write google.protobuf.Any values and extension fields. It is what
// protojson.MarshalOptions.Resolver and UnmarshalOptions.Resolver take.
type Resolver interface {
	protoregistry.MessageTypeResolver
	protoregistry.ExtensionTypeResolver
}

// NewResolver returns a Resolver that knows the well-known types, the
// google.rpc status and error detail types, and every message and extension
// that src can describe, as dynamic types. src may be nil for the first two
// only.
//
// Protojson's resolver methods take no context, so the lookups through src
// are bounded by ctx. Each name is looked up in src once, found or not; a
// Resolver is safe for concurrent use.
func NewResolver(ctx context.Context, src DescriptorSource) Resolver {
	return &sourceResolver{ctx: ctx, src: src, builtin: builtinTypes(), found: map[protoreflect.FullName]protoreflect.Descriptor{}}
}

var (
	_ Resolver                 = (*sourceResolver)(nil)
	_ Resolver                 = (*fallbackResolver)(nil)
	_ protoreflect.MessageType = (*unknownAnyType)(nil)
	_ protoreflect.Message     = (*unknownAnyMessage)(nil)
)

// builtinResolver knows the well-known and google.rpc types only.
func builtinResolver() Resolver { return NewResolver(context.Background(), nil) }

type sourceResolver struct {
	ctx     context.Context
	src     DescriptorSource
	builtin *protoregistry.Types

	mu    sync.Mutex
	found map[protoreflect.FullName]protoreflect.Descriptor // nil: not found
}

// lookup returns the descriptor of name from src, asking src at most once.
func (r *sourceResolver) lookup(name protoreflect.FullName) protoreflect.Descriptor {
	if r.src == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.found[name]; ok {
		return d
	}
	d, err := r.src.FindSymbol(r.ctx, string(name))
	if err != nil {
		d = nil
	}
	r.found[name] = d
	return d
}

func (r *sourceResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := r.builtin.FindMessageByName(name); err == nil {
		return mt, nil
	}
	if md, ok := r.lookup(name).(protoreflect.MessageDescriptor); ok {
		return dynamicpb.NewMessageType(md), nil
	}
	return nil, fmt.Errorf("message type %q: %w", name, protoregistry.NotFound)
}

func (r *sourceResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return r.FindMessageByName(messageNameOfURL(url))
}

func (r *sourceResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if xt, err := r.builtin.FindExtensionByName(name); err == nil {
		return xt, nil
	}
	if xd, ok := r.lookup(name).(protoreflect.ExtensionDescriptor); ok {
		return dynamicpb.NewExtensionType(xd), nil
	}
	return nil, fmt.Errorf("extension %q: %w", name, protoregistry.NotFound)
}

// FindExtensionByNumber finds only the extensions it already met by name: a
// DescriptorSource cannot be asked for the extensions of a message.
func (r *sourceResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if xt, err := r.builtin.FindExtensionByNumber(message, field); err == nil {
		return xt, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.found {
		if xd, ok := d.(protoreflect.ExtensionDescriptor); ok && xd.ContainingMessage().FullName() == message && xd.Number() == field {
			return dynamicpb.NewExtensionType(xd), nil
		}
	}
	return nil, fmt.Errorf("extension %d of %q: %w", field, message, protoregistry.NotFound)
}

// messageNameOfURL is the message name at the end of an Any type URL.
func messageNameOfURL(url string) protoreflect.FullName {
	if slash := strings.LastIndexByte(url, '/'); slash >= 0 {
		url = url[slash+1:]
	}
	return protoreflect.FullName(url)
}

// builtinTypes holds the types every resolver knows without asking a source.
func builtinTypes() *protoregistry.Types {
	types := &protoregistry.Types{}
	for _, m := range []protoreflect.ProtoMessage{
		&anypb.Any{}, &durationpb.Duration{}, &emptypb.Empty{}, &fieldmaskpb.FieldMask{},
		&structpb.Struct{}, &structpb.Value{}, &structpb.ListValue{}, &timestamppb.Timestamp{},
		&wrapperspb.BoolValue{}, &wrapperspb.BytesValue{}, &wrapperspb.DoubleValue{},
		&wrapperspb.FloatValue{}, &wrapperspb.Int32Value{}, &wrapperspb.Int64Value{},
		&wrapperspb.StringValue{}, &wrapperspb.UInt32Value{}, &wrapperspb.UInt64Value{},
		&spb.Status{},
		&errdetails.BadRequest{}, &errdetails.DebugInfo{}, &errdetails.ErrorInfo{},
		&errdetails.Help{}, &errdetails.LocalizedMessage{}, &errdetails.PreconditionFailure{},
		&errdetails.QuotaFailure{}, &errdetails.RequestInfo{}, &errdetails.ResourceInfo{},
		&errdetails.RetryInfo{},
	} {
		// Registering distinct generated types cannot fail.
		_ = types.RegisterMessage(m.ProtoReflect().Type())
	}
	return types
}

// UnknownAnyField is the JSON name of the field that holds the base64 of the
// value of a google.protobuf.Any whose type no resolver knows:
//
//	{"@type": "type.googleapis.com/acme.Secret", "@value": "CgNmb28="}
//
// With FormatOptions.ProtoNames the field is named "value" instead.
const UnknownAnyField = "@value"

// fallbackResolver is the Resolver used to print responses: when the inner
// resolver does not know an Any's type, it returns a type that keeps the
// value's bytes, so that the response still prints, as described at
// UnknownAnyField.
type fallbackResolver struct {
	Resolver
	unknown *unknownAnyType
}

func newFallbackResolver(inner Resolver) *fallbackResolver {
	return &fallbackResolver{Resolver: inner, unknown: newUnknownAnyType()}
}

func (r *fallbackResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := r.Resolver.FindMessageByURL(url)
	if err == nil || !errors.Is(err, protoregistry.NotFound) {
		return mt, err
	}
	return r.unknown, nil
}

// unknownAnyType is the type of a message that holds the raw bytes of an Any
// value whose type is unknown, in its only field (bytes value = 1, JSON name
// "@value").
type unknownAnyType struct {
	desc protoreflect.MessageDescriptor
}

func newUnknownAnyType() *unknownAnyType {
	file := &descriptorpb.FileDescriptorProto{
		Name:    new("micro/call/unknown_any.proto"),
		Package: new("micro.call"),
		Syntax:  new("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: new("UnknownAny"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name:     new("value"),
				JsonName: new(UnknownAnyField),
				Number:   new(int32(1)),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_BYTES.Enum(),
			}},
		}},
	}
	fd, err := protodesc.NewFile(file, &protoregistry.Files{})
	if err != nil {
		panic(fmt.Sprintf("call: build the UnknownAny descriptor: %v", err)) // a bug in the literal above
	}
	return &unknownAnyType{desc: fd.Messages().Get(0)}
}

func (t *unknownAnyType) New() protoreflect.Message {
	return &unknownAnyMessage{Message: dynamicpb.NewMessage(t.desc), typ: t}
}
func (t *unknownAnyType) Zero() protoreflect.Message                 { return t.New() }
func (t *unknownAnyType) Descriptor() protoreflect.MessageDescriptor { return t.desc }

// unknownAnyMessage is a dynamic message whose decoding stores the whole
// input in its value field instead of parsing it.
type unknownAnyMessage struct {
	*dynamicpb.Message
	typ *unknownAnyType
}

func (m *unknownAnyMessage) ProtoReflect() protoreflect.Message   { return m }
func (m *unknownAnyMessage) Interface() protoreflect.ProtoMessage { return m }
func (m *unknownAnyMessage) Type() protoreflect.MessageType       { return m.typ }
func (m *unknownAnyMessage) ProtoMethods() *protoiface.Methods {
	return &protoiface.Methods{Unmarshal: m.unmarshal}
}

func (m *unknownAnyMessage) unmarshal(in protoiface.UnmarshalInput) (protoiface.UnmarshalOutput, error) {
	value := append([]byte(nil), in.Buf...)
	m.Message.Set(m.typ.desc.Fields().Get(0), protoreflect.ValueOfBytes(value))
	return protoiface.UnmarshalOutput{Flags: protoiface.UnmarshalInitialized}, nil
}
