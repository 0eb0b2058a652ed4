package codec_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/apipb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/microtools/micro/pkg/codec"
)

// Every codec can be handed to grpc.ForceCodec.
var (
	_ encoding.Codec = codec.JSON{}
	_ encoding.Codec = codec.Proto{}
	_ encoding.Codec = codec.Raw{}
)

type greeting struct {
	Name  string   `json:"name"`
	Count int      `json:"count,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

func TestJSONRoundTrip(t *testing.T) {
	c := codec.JSON{}
	in := greeting{Name: "Ada", Count: 2, Tags: []string{"a", "b"}}
	data, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want, have := `{"name":"Ada","count":2,"tags":["a","b"]}`, string(data); want != have {
		t.Errorf("marshal: want %s, have %s", want, have)
	}
	var out greeting
	if err := c.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if want, have := in.Name, out.Name; want != have || out.Count != in.Count || len(out.Tags) != 2 {
		t.Errorf("round trip: want %+v, have %+v", in, out)
	}
}

func TestJSONProtoMessages(t *testing.T) {
	msg := &apipb.Method{Name: "Hello", RequestTypeUrl: "type.googleapis.com/greeter.HelloRequest"}
	cases := []struct {
		name  string
		codec codec.JSON
		want  string
	}{
		{"camel case by default", codec.JSON{}, `{"name":"Hello","requestTypeUrl":"type.googleapis.com/greeter.HelloRequest"}`},
		{"proto names", codec.JSON{ProtoNames: true}, `{"name":"Hello","request_type_url":"type.googleapis.com/greeter.HelloRequest"}`},
		{"emit defaults", codec.JSON{EmitDefaults: true}, `{"name":"Hello","requestTypeUrl":"type.googleapis.com/greeter.HelloRequest","requestStreaming":false,"responseTypeUrl":"","responseStreaming":false,"options":[],"syntax":"SYNTAX_PROTO2","edition":""}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.codec.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if want, have := tc.want, string(data); want != have {
				t.Errorf("marshal:\nwant %s\nhave %s", want, have)
			}
			out := &apipb.Method{}
			if err := tc.codec.Unmarshal(data, out); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(msg, out) {
				t.Errorf("round trip: want %v, have %v", msg, out)
			}
		})
	}
}

func TestJSONWellKnownTypes(t *testing.T) {
	c := codec.JSON{}
	data, err := c.Marshal(wrapperspb.Int64(1 << 40))
	if err != nil {
		t.Fatal(err)
	}
	if want, have := `"1099511627776"`, string(data); want != have {
		t.Errorf("int64 wrapper: want %s, have %s", want, have)
	}
	s := &structpb.Struct{}
	if err := c.Unmarshal([]byte(`{"id": 7, "tags": ["x"]}`), s); err != nil {
		t.Fatal(err)
	}
	if want, have := 7.0, s.Fields["id"].GetNumberValue(); want != have {
		t.Errorf("struct field id: want %v, have %v", want, have)
	}
}

func TestJSONUnknownFields(t *testing.T) {
	data := []byte(`{"name":"Hello","colour":"blue"}`)
	strict := codec.JSON{}
	err := strict.Unmarshal(data, &apipb.Method{})
	if err == nil {
		t.Fatal("strict unmarshal of an unknown field: want an error, have nil")
	}
	if want, have := "google.protobuf.Method", err.Error(); !strings.Contains(have, want) {
		t.Errorf("error: want it to name %q, have %q", want, have)
	}
	lenient := codec.JSON{DiscardUnknown: true}
	out := &apipb.Method{}
	if err := lenient.Unmarshal(data, out); err != nil {
		t.Fatalf("lenient unmarshal: %v", err)
	}
	if want, have := "Hello", out.GetName(); want != have {
		t.Errorf("name: want %q, have %q", want, have)
	}
}

func TestJSONErrors(t *testing.T) {
	c := codec.JSON{}
	cases := []struct {
		name     string
		run      func() error
		contains string
	}{
		{"marshal a channel", func() error { _, err := c.Marshal(make(chan int)); return err }, "json codec: marshal chan int"},
		{"unmarshal bad JSON", func() error { var g greeting; return c.Unmarshal([]byte(`{"name":`), &g) }, "json codec: unmarshal into *codec_test.greeting"},
		{"unmarshal bad JSON into a message", func() error { return c.Unmarshal([]byte(`{"name":`), &apipb.Method{}) }, "json codec: unmarshal google.protobuf.Method"},
		{"unmarshal into a non-pointer", func() error { return c.Unmarshal([]byte(`{}`), greeting{}) }, "json codec: unmarshal into codec_test.greeting"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("want an error, have nil")
			}
			if want, have := tc.contains, err.Error(); !strings.Contains(have, want) {
				t.Errorf("error: want it to contain %q, have %q", want, have)
			}
		})
	}
}

func TestProtoRoundTrip(t *testing.T) {
	c := codec.Proto{}
	in := &apipb.Method{Name: "Hello", RequestStreaming: true}
	data, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &apipb.Method{Name: "stale", Syntax: 1}
	if err := c.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Errorf("round trip (the target is reset first): want %v, have %v", in, out)
	}
}

func TestProtoErrors(t *testing.T) {
	c := codec.Proto{}
	cases := []struct {
		name        string
		run         func() error
		unsupported bool
		contains    string
	}{
		{"marshal a struct", func() error { _, err := c.Marshal(greeting{}); return err }, true, "proto codec: cannot marshal codec_test.greeting: unsupported type: want a proto.Message"},
		{"marshal a string", func() error { _, err := c.Marshal("hello"); return err }, true, "cannot marshal string"},
		{"unmarshal into a map", func() error { m := map[string]any{}; return c.Unmarshal(nil, &m) }, true, "proto codec: cannot unmarshal into *map[string]interface {}"},
		{"unmarshal garbage", func() error { return c.Unmarshal([]byte{0xff, 0xff, 0xff}, &apipb.Method{}) }, false, "proto codec: unmarshal google.protobuf.Method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("want an error, have nil")
			}
			if want, have := tc.unsupported, errors.Is(err, codec.ErrUnsupportedType); want != have {
				t.Errorf("errors.Is(err, ErrUnsupportedType): want %v, have %v (%v)", want, have, err)
			}
			if want, have := tc.contains, err.Error(); !strings.Contains(have, want) {
				t.Errorf("error: want it to contain %q, have %q", want, have)
			}
		})
	}
}

func TestRaw(t *testing.T) {
	c := codec.Raw{}
	payload := []byte("hello")

	for _, v := range []any{payload, &payload} {
		data, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %T: %v", v, err)
		}
		if want, have := payload, data; !bytes.Equal(want, have) {
			t.Errorf("marshal %T: want %q, have %q", v, want, have)
		}
	}
	if data, err := c.Marshal((*[]byte)(nil)); err != nil || data != nil {
		t.Errorf("marshal a nil *[]byte: want nil, nil; have %q, %v", data, err)
	}

	src := []byte("world")
	var out []byte
	if err := c.Unmarshal(src, &out); err != nil {
		t.Fatal(err)
	}
	src[0] = 'W'
	if want, have := "world", string(out); want != have {
		t.Errorf("unmarshal copies: want %q, have %q", want, have)
	}

	for _, v := range []any{"text", 42, &apipb.Method{}} {
		if _, err := c.Marshal(v); !errors.Is(err, codec.ErrUnsupportedType) {
			t.Errorf("marshal %T: want ErrUnsupportedType, have %v", v, err)
		}
	}
	for _, v := range []any{out, (*[]byte)(nil), new(string)} {
		if err := c.Unmarshal(src, v); !errors.Is(err, codec.ErrUnsupportedType) {
			t.Errorf("unmarshal into %T: want ErrUnsupportedType, have %v", v, err)
		}
	}
}

func TestTableByContentType(t *testing.T) {
	table := codec.Default()
	cases := []struct {
		contentType string
		want        string // codec name; "" for none
	}{
		{"application/json", "json"},
		{"application/json; charset=utf-8", "json"},
		{" Application/JSON ;charset=UTF-8", "json"},
		{"application/protobuf", "proto"},
		{"application/x-protobuf", "proto"},
		{"application/vnd.google.protobuf; proto=greeter.Hello", "proto"},
		{"application/octet-stream", "raw"},
		{"application/grpc", "proto"},
		{"application/grpc+proto", "proto"},
		{"application/grpc+json", "json"},
		{"application/grpc+raw", "raw"},
		{"application/grpc+xml", ""},
		{"application/grpc+", ""},
		{"application/grpcx", ""},
		{"text/plain", ""},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.contentType, func(t *testing.T) {
			c, ok := table.ByContentType(tc.contentType)
			if want, have := tc.want != "", ok; want != have {
				t.Fatalf("found: want %v, have %v", want, have)
			}
			if ok {
				if want, have := tc.want, c.Name(); want != have {
					t.Errorf("codec: want %s, have %s", want, have)
				}
			}
		})
	}
}

func TestTableByName(t *testing.T) {
	table := codec.Default()
	for _, name := range []string{"json", "proto", "raw", " JSON "} {
		c, ok := table.ByName(name)
		if !ok {
			t.Errorf("ByName(%q): not found", name)
			continue
		}
		if want, have := strings.ToLower(strings.TrimSpace(name)), c.Name(); want != have {
			t.Errorf("ByName(%q): want %s, have %s", name, want, have)
		}
	}
	if _, ok := table.ByName("xml"); ok {
		t.Error(`ByName("xml"): want not found`)
	}

	var names []string
	for _, c := range table.Codecs() {
		names = append(names, c.Name())
	}
	if want, have := "json proto raw", strings.Join(names, " "); want != have {
		t.Errorf("Codecs: want %s, have %s", want, have)
	}
}

// protoAsJSON claims the protobuf content type under a name of its own.
type protoAsJSON struct{ codec.JSON }

func (protoAsJSON) Name() string        { return "proto-json" }
func (protoAsJSON) ContentType() string { return codec.ContentTypeProto }

func TestNewTableOverrides(t *testing.T) {
	lenient := codec.JSON{DiscardUnknown: true}
	table := codec.NewTable(codec.JSON{}, codec.Proto{}, nil, codec.Raw{}, lenient, protoAsJSON{})

	c, _ := table.ByName("json")
	if want, have := any(lenient), any(c); want != have {
		t.Errorf("a later codec of the same name replaces the earlier: want %#v, have %#v", want, have)
	}
	if want, have := 4, len(table.Codecs()); want != have {
		t.Errorf("codecs: want %d, have %d", want, have)
	}
	c, _ = table.ByContentType(codec.ContentTypeProto)
	if want, have := "proto-json", c.Name(); want != have {
		t.Errorf("a later codec of the same content type wins: want %s, have %s", want, have)
	}
	c, _ = table.ByContentType("application/x-protobuf")
	if want, have := "proto", c.Name(); want != have {
		t.Errorf("aliases still find their codec: want %s, have %s", want, have)
	}

	// Defaults are independent values.
	if codec.Default() == codec.Default() {
		t.Error("Default: want a new table each call")
	}
	var empty codec.Table
	if _, ok := empty.ByContentType(codec.ContentTypeJSON); ok {
		t.Error("the zero Table: want it empty")
	}
}
