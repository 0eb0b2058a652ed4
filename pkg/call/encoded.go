package call

import (
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Encoded is a request together with its wire encoding, made once by
// Encode. Invoke sends those bytes as they are instead of marshalling the
// message again on every call, which is what a load generator that sends
// one request many times wants. It is a proto.Message (the request), so a
// supplier returns it like any other; the request must not change after
// Encode.
type Encoded struct {
	proto.Message
	wire []byte
	data mem.BufferSlice // wire, as wireCodec gives it to gRPC each time
}

// Encode marshals msg once, for Invoke to send as it is.
func Encode(msg proto.Message) (*Encoded, error) {
	wire, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	// gRPC only reads the buffers of a message it sends, and freeing a
	// SliceBuffer does nothing: every call may be given the same slice.
	return &Encoded{Message: msg, wire: wire, data: mem.BufferSlice{mem.SliceBuffer(wire)}}, nil
}

// WithoutDecodingResponses makes Invoke check that each response is well
// formed protobuf (its fields, not their contents) without decoding it:
// the handler is told of each response with an empty message of the
// output type. For callers that count answers and never read them, such
// as a load generator.
func WithoutDecodingResponses() InvokeOption {
	// The call option is made once per option, not once per call.
	wire := forceWireCodec()
	return func(o *invokeOptions) { o.discardResponses, o.wireCodec = true, wire }
}

// undecoded is the response of a call made WithoutDecodingResponses:
// nothing is decoded into it; the handler is told of an empty message of
// output.
type undecoded struct{ output protoreflect.MessageType }

// wireCodec is grpc's proto codec, except that it sends an *Encoded as its
// bytes and only checks the framing of an undecoded response. It is used
// for the calls that need it alone, with grpc.ForceCodecV2, so the content
// type of those calls is application/grpc+proto (the same codec, named).
type wireCodec struct{}

var errMalformed = errors.New("response is not well-formed protobuf")

func (wireCodec) Name() string { return grpcproto.Name }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*Encoded); ok {
		return e.data, nil
	}
	return encoding.GetCodecV2(grpcproto.Name).Marshal(v)
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if _, ok := v.(*undecoded); !ok {
		return encoding.GetCodecV2(grpcproto.Name).Unmarshal(data, v)
	}
	var b []byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData()
	} else {
		b = data.Materialize()
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return errMalformed
		}
		b = b[n:]
	}
	return nil
}

// forceWireCodec is the call option that makes a call use wireCodec.
func forceWireCodec() grpc.CallOption { return grpc.ForceCodecV2(wireCodec{}) }
