package call_test

import (
	"io"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// TestEncodedRequestIsSentAsEncoded changes the message after Encode: the
// server must see the bytes Encode made, so Invoke sent them as they were
// and did not marshal the message again. Unary and server streaming.
func TestEncodedRequestIsSentAsEncoded(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	for _, tt := range []struct{ endpoint, want string }{
		{"Greeter.Hello", `{"message":"Hello Ada"}`},
		{"Greeter.Stream", `{"message":"Hello Ada","sequence":1}`},
	} {
		t.Run(tt.endpoint, func(t *testing.T) {
			method, err := call.FindMethod(ctx, greeterProtoSource(t), "greeter", tt.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			msg := dynamicpb.NewMessage(method.Input())
			name := method.Input().Fields().ByName("name")
			msg.Set(name, protoreflect.ValueOfString("Ada"))
			if count := method.Input().Fields().ByName("count"); count != nil {
				msg.Set(count, protoreflect.ValueOfInt32(1))
			}
			encoded, err := call.Encode(msg)
			if err != nil {
				t.Fatal(err)
			}
			msg.Set(name, protoreflect.ValueOfString("Bob"))
			rec := newRecorder()
			if err := call.Invoke(ctx, conn, method, oneRequest(encoded), rec); err != nil {
				t.Fatal(err)
			}
			if len(rec.responses) == 0 || rec.responses[0] != tt.want {
				t.Errorf("want first response %s, have %q", tt.want, rec.responses)
			}
		})
	}
}

// TestWithoutDecodingResponses: the call succeeds and the handler is told
// of the response with an empty message, not the decoded one.
func TestWithoutDecodingResponses(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	method, err := call.FindMethod(ctx, greeterProtoSource(t), "greeter", "Greeter.Hello")
	if err != nil {
		t.Fatal(err)
	}
	msg := dynamicpb.NewMessage(method.Input())
	msg.Set(method.Input().Fields().ByName("name"), protoreflect.ValueOfString("Ada"))
	var responses []proto.Message
	handler := call.HandlerFuncs{Response: func(resp proto.Message) error {
		responses = append(responses, resp)
		return nil
	}}
	if err := call.Invoke(ctx, conn, method, oneRequest(msg), handler, call.WithoutDecodingResponses()); err != nil {
		t.Fatal(err)
	}
	if len(responses) != 1 {
		t.Fatalf("want one response, have %d", len(responses))
	}
	if have := responses[0]; have.ProtoReflect().Descriptor() != method.Output() || proto.Size(have) != 0 {
		t.Errorf("want an empty %s, have %v", method.Output().FullName(), have)
	}
}

// oneRequest supplies msg, then io.EOF.
func oneRequest(msg proto.Message) call.RequestSupplier {
	sent := false
	return func(protoreflect.MessageType) (proto.Message, error) {
		if sent {
			return nil, io.EOF
		}
		sent = true
		return msg, nil
	}
}
