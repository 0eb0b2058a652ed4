package call_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// kitchenOrder returns an empty kitchen.v1.Order and a resolver over the
// kitchen source.
func kitchenOrder(t testing.TB) (*dynamicpb.Message, call.Resolver) {
	t.Helper()
	src := kitchenSource(t)
	d, err := src.FindSymbol(testContext(t), "kitchen.v1.Order")
	if err != nil {
		t.Fatal(err)
	}
	return dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor)), call.NewResolver(testContext(t), src)
}

// TestJSONRoundTrip reads JSON into a dynamic message and writes it back.
func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"scalars", `{"name":"x","ok":true,"ratio":0.5,"small":-3,"blob":"AQI="}`, `{"name":"x","small":-3,"ratio":0.5,"ok":true,"blob":"AQI="}`},
		{"64-bit integers as numbers", `{"big":9007199254740993,"ubig":18446744073709551615}`, `{"big":"9007199254740993","ubig":"18446744073709551615"}`},
		{"64-bit integers as strings", `{"big":"-42","ubig":"7"}`, `{"big":"-42","ubig":"7"}`},
		{"enum by name", `{"colour":"COLOUR_GREEN"}`, `{"colour":"COLOUR_GREEN"}`},
		{"enum by number", `{"colour":1}`, `{"colour":"COLOUR_RED"}`},
		{"proto names", `{"name":"x","opt":0}`, `{"name":"x","opt":0}`},
		{"repeated, map, nested", `{"tags":["a"],"counts":{"k":"3"},"item":{"sku":"s","qty":2},"items":[{"sku":"t"}]}`,
			`{"tags":["a"],"counts":{"k":"3"},"item":{"sku":"s","qty":2},"items":[{"sku":"t"}]}`},
		{"well-known types", `{"at":"2024-01-02T03:04:05.5Z","wait":"1.5s","attrs":{"a":[1,"b",null]},"maybe":"12","mask":"a.b,c"}`,
			`{"at":"2024-01-02T03:04:05.500Z","wait":"1.500s","attrs":{"a":[1,"b",null]},"maybe":"12","mask":"a.b,c"}`},
		{"oneof", `{"number":4}`, `{"number":4}`},
		{"Any of a type of the source", `{"extra":{"@type":"type.googleapis.com/kitchen.v1.Item","sku":"s","qty":1}}`,
			`{"extra":{"@type":"type.googleapis.com/kitchen.v1.Item","sku":"s","qty":1}}`},
		{"Any of a well-known type", `{"extra":{"@type":"type.googleapis.com/google.protobuf.Duration","value":"2s"}}`,
			`{"extra":{"@type":"type.googleapis.com/google.protobuf.Duration","value":"2s"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, resolver := kitchenOrder(t)
			if err := call.ParseJSON([]byte(tc.in), msg, resolver); err != nil {
				t.Fatalf("ParseJSON(%s): %v", tc.in, err)
			}
			have, err := call.NewJSONFormatter(resolver, call.FormatOptions{})(msg)
			if err != nil {
				t.Fatalf("format: %v", err)
			}
			if string(have) != tc.want {
				t.Errorf("round trip of %s:\nwant %s\nhave %s", tc.in, tc.want, have)
			}
		})
	}
}

func TestJSONErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		mentions []string
	}{
		{"unknown field", `{"nope":1}`, []string{`unknown field "nope"`}},
		{"wrong type nested", `{"items":[{"sku":"a"},{"qty":"many"}]}`, []string{"at items[1].qty"}},
		{"int64 out of range", `{"big":"99999999999999999999"}`, []string{"at big"}},
		{"unknown enum", `{"colour":"COLOUR_BLUE"}`, []string{"COLOUR_BLUE"}},
		{"Any of an unknown type", `{"extra":{"@type":"type.googleapis.com/kitchen.v1.Nothing","a":1}}`, []string{"kitchen.v1.Nothing"}},
		{"Any without @type", `{"extra":{"sku":"a"}}`, []string{"@type"}},
		{"bad timestamp", `{"at":"yesterday"}`, []string{"at at", "Timestamp"}},
		{"trailing garbage", `{"name":"a"} x`, []string{"kitchen.v1.Order"}},
		{"not JSON", `hello`, []string{"kitchen.v1.Order"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, resolver := kitchenOrder(t)
			err := call.ParseJSON([]byte(tc.in), msg, resolver)
			if err == nil {
				t.Fatalf("ParseJSON(%s): want an error", tc.in)
			}
			var jsonErr *call.JSONError
			if !errors.As(err, &jsonErr) || jsonErr.Message != "kitchen.v1.Order" {
				t.Errorf("want a *JSONError for kitchen.v1.Order, have %#v", err)
			}
			for _, mention := range tc.mentions {
				if !strings.Contains(err.Error(), mention) {
					t.Errorf("error %q does not mention %q", err, mention)
				}
			}
		})
	}
}

// TestUnknownAnyNeverBreaksOutput writes an Any whose type no resolver knows.
func TestUnknownAnyNeverBreaksOutput(t *testing.T) {
	msg, resolver := kitchenOrder(t)
	value := []byte{0x0a, 0x03, 'a', 'b', 'c'}
	extra := &anypb.Any{TypeUrl: "type.googleapis.com/acme.Secret", Value: value}
	if err := call.ParseJSON([]byte(`{"name":"n"}`), msg, resolver); err != nil {
		t.Fatal(err)
	}
	field := msg.Descriptor().Fields().ByName("extra")
	anyMsg := msg.NewField(field).Message()
	anyMsg.Set(anyMsg.Descriptor().Fields().ByName("type_url"), protoreflect.ValueOfString(extra.TypeUrl))
	anyMsg.Set(anyMsg.Descriptor().Fields().ByName("value"), protoreflect.ValueOfBytes(extra.Value))
	msg.Set(field, protoreflect.ValueOfMessage(anyMsg))

	encoded := base64.StdEncoding.EncodeToString(value)
	tests := []struct {
		opts call.FormatOptions
		want string
	}{
		{call.FormatOptions{}, `{"name":"n","extra":{"@type":"type.googleapis.com/acme.Secret","@value":"` + encoded + `"}}`},
		{call.FormatOptions{ProtoNames: true}, `{"name":"n","extra":{"@type":"type.googleapis.com/acme.Secret","value":"` + encoded + `"}}`},
	}
	for _, tc := range tests {
		have, err := call.NewJSONFormatter(resolver, tc.opts)(msg)
		if err != nil {
			t.Fatalf("format with an unknown Any: %v", err)
		}
		if string(have) != tc.want {
			t.Errorf("format with %+v:\nwant %s\nhave %s", tc.opts, tc.want, have)
		}
	}
	indented, err := call.NewJSONFormatter(resolver, call.FormatOptions{Indent: "\t", EmitDefaults: true})(msg)
	if err != nil || !json.Valid(indented) {
		t.Errorf("indented with defaults: %v\n%s", err, indented)
	}
}

// TestKitchenThroughServer sends well-known types and an Any through a real
// server (an echo) and reads them back.
func TestKitchenThroughServer(t *testing.T) {
	server := grpctest.Start(t, grpctest.Config{Options: []grpc.ServerOption{grpc.UnknownServiceHandler(echoHandler)}})
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	src := kitchenSource(t)
	method, err := call.FindMethod(ctx, src, "kitchen", "Kitchen.Place")
	if err != nil {
		t.Fatal(err)
	}
	in := `{"name":"n","big":"-9007199254740993","colour":2,"at":"2024-01-02T03:04:05Z",` +
		`"extra":{"@type":"type.googleapis.com/kitchen.v1.Item","sku":"s"},"attrs":{"k":{"deep":[true]}}}`
	want := `{"name":"n","big":"-9007199254740993","colour":"COLOUR_GREEN",` +
		`"extra":{"@type":"type.googleapis.com/kitchen.v1.Item","sku":"s"},"at":"2024-01-02T03:04:05Z","attrs":{"k":{"deep":[true]}}}`
	resolver := call.NewResolver(ctx, src)
	rec := newRecorder()
	rec.format = call.NewJSONFormatter(resolver, call.FormatOptions{})
	if err := call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(in), resolver), rec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.responses, []string{want}) {
		t.Errorf("echo:\nwant %s\nhave %q", want, rec.responses)
	}
}

// TestDescribeStatus decodes the details of a failed call: google.rpc types,
// a type of the source, and a type nobody knows.
func TestDescribeStatus(t *testing.T) {
	item, err := anypb.New(&errdetails.ErrorInfo{Reason: "STOCK", Domain: "kitchen"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := status.New(codes.FailedPrecondition, "out of stock").WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "sku", Description: "unknown sku"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	sp := st.Proto()
	sp.Details = append(sp.Details,
		&anypb.Any{TypeUrl: "type.googleapis.com/kitchen.v1.Item", Value: []byte{0x0a, 0x01, 's'}},
		&anypb.Any{TypeUrl: "type.googleapis.com/acme.Secret", Value: []byte{1, 2}},
		item,
	)
	failing := status.FromProto(sp)
	server := grpctest.Start(t, grpctest.Config{Options: []grpc.ServerOption{grpc.UnknownServiceHandler(
		func(any, grpc.ServerStream) error { return failing.Err() })}})
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	src := kitchenSource(t)
	method, err := call.FindMethod(ctx, src, "kitchen", "Kitchen.Place")
	if err != nil {
		t.Fatal(err)
	}
	err = call.Invoke(ctx, conn, method, nil, nil)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Invoke: want FailedPrecondition, have %v", err)
	}

	report, ok := call.DescribeStatus(err, call.NewResolver(ctx, src))
	if !ok {
		t.Fatal("DescribeStatus: no status in the error")
	}
	want := call.StatusReport{
		Code: codes.FailedPrecondition, Name: "FailedPrecondition", Message: "out of stock",
		Details: []call.StatusDetail{
			{TypeURL: "type.googleapis.com/google.rpc.BadRequest", Value: json.RawMessage(`{"fieldViolations":[{"field":"sku","description":"unknown sku"}]}`)},
			{TypeURL: "type.googleapis.com/kitchen.v1.Item", Value: json.RawMessage(`{"sku":"s"}`)},
			{TypeURL: "type.googleapis.com/acme.Secret", Error: "unknown type"},
			{TypeURL: "type.googleapis.com/google.rpc.ErrorInfo", Value: json.RawMessage(`{"reason":"STOCK","domain":"kitchen"}`)},
		},
	}
	if !reflect.DeepEqual(report, want) {
		t.Errorf("DescribeStatus:\nwant %+v\nhave %+v", want, report)
	}
	text := report.String()
	for _, line := range []string{
		"code: FailedPrecondition (9)",
		"message: out of stock",
		`detail: type.googleapis.com/google.rpc.BadRequest {"fieldViolations":[{"field":"sku","description":"unknown sku"}]}`,
		"detail: type.googleapis.com/acme.Secret (unknown type)",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("String() lacks %q:\n%s", line, text)
		}
	}
	if _, err := json.Marshal(report); err != nil {
		t.Errorf("the report does not marshal to JSON: %v", err)
	}

	plain, ok := call.DescribeStatus(errors.New("disk full"), nil)
	if ok || plain.Code != codes.Unknown || plain.Message != "disk full" {
		t.Errorf("DescribeStatus of a plain error: want Unknown, disk full, not ok; have %+v, %v", plain, ok)
	}
}

// FuzzJSONToMessage parses arbitrary input as a kitchen.v1.Order (every kind
// of field) and a greeter.v1.HelloRequest, and writes what it read back; it
// must never panic, and what it writes must read back the same.
func FuzzJSONToMessage(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"name":"x"}`, `{"big":"1","ubig":2,"colour":"COLOUR_RED"}`,
		`{"extra":{"@type":"type.googleapis.com/kitchen.v1.Item","sku":"s"}}`,
		`{"attrs":{"a":[1,{"b":null}]},"at":"2024-01-01T00:00:00Z","wait":"3s"}`,
		`{"counts":{"a":"1"},"items":[{"qty":1}],"maybe":null,"mask":"a,b"}`,
		`{"code":"a","number":1}`, `{"name":`, `[1]`, `null`, `"\u0000"`,
	} {
		f.Add([]byte(seed))
	}
	msg, resolver := kitchenOrder(f)
	greeter := greeterProtoSource(f)
	hello, err := greeter.FindSymbol(testContext(f), "greeter.v1.HelloRequest")
	if err != nil {
		f.Fatal(err)
	}
	format := call.NewJSONFormatter(resolver, call.FormatOptions{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, desc := range []protoreflect.MessageDescriptor{msg.Descriptor(), hello.(protoreflect.MessageDescriptor)} {
			m := dynamicpb.NewMessage(desc)
			if err := call.ParseJSON(data, m, resolver); err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				continue
			}
			out, err := format(m)
			if err != nil {
				t.Fatalf("format what was parsed from %q: %v", data, err)
			}
			again := dynamicpb.NewMessage(desc)
			if err := call.ParseJSON(out, again, resolver); err != nil {
				t.Fatalf("read back %s: %v", out, err)
			}
			if !proto.Equal(m, again) {
				t.Fatalf("round trip of %q changed the message: %s", data, out)
			}
		}
	})
}
