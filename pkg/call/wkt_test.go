package call_test

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// echoEach answers any unknown method with each request it is given, as
// echoHandler does with one.
func echoEach(srv any, stream grpc.ServerStream) error {
	for {
		var msg emptypb.Empty
		if err := stream.RecvMsg(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if err := stream.SendMsg(&msg); err != nil {
			return err
		}
	}
}

// Requests of the well-known types take their JSON forms, not objects:
// each goes through a server that echoes it, and comes back the same.
func TestWellKnownTypeRequests(t *testing.T) {
	server := grpctest.Start(t, grpctest.Config{Options: []grpc.ServerOption{grpc.UnknownServiceHandler(echoEach)}})
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	src, err := call.NewProtoSource(ctx, []string{"testdata"}, "wkt/v1/wkt.proto")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, in string
		want       []string
	}{
		{"String", `"a"`, []string{`"a"`}},
		{"Bytes", `"aGk="`, []string{`"aGk="`}},
		{"Bool", `true`, []string{`true`}},
		{"Int64", `"7"`, []string{`"7"`}},
		{"Int64", `7`, []string{`"7"`}},
		{"UInt32", `42`, []string{`42`}},
		{"Double", `1.5`, []string{`1.5`}},
		{"Time", `"2026-01-01T00:00:00Z"`, []string{`"2026-01-01T00:00:00Z"`}},
		{"Wait", `"2s"`, []string{`"2s"`}},
		{"Mask", `"name,count"`, []string{`"name,count"`}},
		{"Any", `[1,"x"]`, []string{`[1,"x"]`}},
		{"Any", `null`, []string{`null`}},
		{"Any", `"x"`, []string{`"x"`}},
		{"List", `[1,"x",{"k":true}]`, []string{`[1,"x",{"k":true}]`}},
		{"Object", `{"k":[1]}`, []string{`{"k":[1]}`}},
		// Streams of them: NDJSON, or simply concatenated.
		{"Strings", "\"a\"\n\"b\"\n", []string{`"a"`, `"b"`}},
		{"Strings", `"a""b" "c"`, []string{`"a"`, `"b"`, `"c"`}},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.in, func(t *testing.T) {
			method, err := call.FindMethod(ctx, src, "wkt", "Values."+tc.method)
			if err != nil {
				t.Fatal(err)
			}
			rec := newRecorder()
			if err := call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(tc.in), nil), rec); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rec.responses, tc.want) {
				t.Errorf("want %q, have %q", tc.want, rec.responses)
			}
		})
	}
}

// A message that is not a well-known type still wants an object; the
// error of a well-known type's bad value names the type.
func TestWellKnownTypeRequestErrors(t *testing.T) {
	cases := []struct {
		input proto.Message
		in    string
		want  string
	}{
		{&wrapperspb.StringValue{}, `7`, "google.protobuf.StringValue"},
		{&wrapperspb.Int64Value{}, `"seven"`, "google.protobuf.Int64Value"},
		{&structpb.Struct{}, `[1]`, "want a JSON object for google.protobuf.Struct"},
	}
	for _, tc := range cases {
		msgType := tc.input.ProtoReflect().Type()
		_, err := call.NewJSONSupplier(strings.NewReader(tc.in), nil)(msgType)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: want an error with %q, have %v", msgType.Descriptor().FullName(), tc.in, tc.want, err)
		}
	}
	order, _ := kitchenOrder(t)
	_, err := call.NewJSONSupplier(strings.NewReader(`"a"`), nil)(order.Type())
	if err == nil || !strings.Contains(err.Error(), "want a JSON object for kitchen.v1.Order") {
		t.Errorf("a message wants an object: %v", err)
	}
}

// --emit-defaults writes an unset proto2 field with its declared default,
// in nested messages too; without it, unset fields are left out.
func TestEmitDefaultsProto2(t *testing.T) {
	ctx := testContext(t)
	src, err := call.NewProtoSource(ctx, []string{"testdata"}, "legacy/v1/legacy.proto")
	if err != nil {
		t.Fatal(err)
	}
	d, err := src.FindSymbol(ctx, "legacy.v1.Settings")
	if err != nil {
		t.Fatal(err)
	}
	msg := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	if err := call.ParseJSON([]byte(`{"count":3,"many":[{"name":"x"}]}`), msg, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		opts call.FormatOptions
		want string
	}{
		{call.FormatOptions{}, `{"count":3,"many":[{"name":"x"}]}`},
		{call.FormatOptions{EmitDefaults: true}, `{"name":"anon","count":3,"ratio":0.5,"on":true,"colour":"COLOUR_GREEN","note":"","blob":"aGk=","inner":null,` +
			`"many":[{"name":"x","count":7,"ratio":0.5,"on":true,"colour":"COLOUR_GREEN","note":"","blob":"aGk=","inner":null,"many":[]}]}`},
	}
	for _, tc := range cases {
		have, err := call.NewJSONFormatter(nil, tc.opts)(msg)
		if err != nil || string(have) != tc.want {
			t.Errorf("%+v:\nwant %s\nhave %s (%v)", tc.opts, tc.want, have, err)
		}
	}
	// The message itself is left as it was.
	if msg.Has(msg.Descriptor().Fields().ByName("name")) {
		t.Error("formatting changed the message")
	}
}
