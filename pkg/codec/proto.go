package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

var (
	_ Codec   = Proto{}
	_ Aliaser = Proto{}
)

// Proto encodes protocol buffer messages in the binary wire format. It
// accepts proto.Message values and, through protoadapt, messages generated
// with the older github.com/golang/protobuf API; anything else fails with
// ErrUnsupportedType. The zero value is ready to use.
type Proto struct{}

// Name implements Codec. It is "proto", the name gRPC gives its own codec.
func (Proto) Name() string { return "proto" }

// ContentType implements Codec.
func (Proto) ContentType() string { return ContentTypeProto }

// ContentTypeAliases implements Aliaser: the other names protobuf goes by.
func (Proto) ContentTypeAliases() []string {
	return []string{"application/x-protobuf", "application/vnd.google.protobuf"}
}

// Marshal implements Codec.
func (Proto) Marshal(v any) ([]byte, error) {
	m, ok := asProto(v)
	if !ok {
		return nil, fmt.Errorf("proto codec: cannot marshal %T: %w: want a proto.Message", v, ErrUnsupportedType)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("proto codec: marshal %s: %w", messageName(m), err)
	}
	return data, nil
}

// Unmarshal implements Codec. v must be a pointer to a message, which is
// reset before it is filled.
func (Proto) Unmarshal(data []byte, v any) error {
	m, ok := asProto(v)
	if !ok {
		return fmt.Errorf("proto codec: cannot unmarshal into %T: %w: want a proto.Message", v, ErrUnsupportedType)
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Errorf("proto codec: unmarshal %s: %w", messageName(m), err)
	}
	return nil
}

// asProto returns v as a proto.Message when it is one, in the current API or
// the old one.
func asProto(v any) (proto.Message, bool) {
	switch m := v.(type) {
	case proto.Message:
		return m, true
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(m), true
	default:
		return nil, false
	}
}

// messageName is the full name of m's type for error messages.
func messageName(m proto.Message) string {
	return string(m.ProtoReflect().Descriptor().FullName())
}
