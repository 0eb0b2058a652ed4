package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/microtools/micro/pkg/codec"
)

func TestRPCEnvelopes(t *testing.T) {
	type pair struct {
		name   string
		encode func(codec.Envelope) ([]byte, error)
		decode func([]byte) (codec.Envelope, error)
		body   []byte
	}
	for _, p := range []pair{
		{"json-rpc request", codec.EncodeJSONRPCRequest, codec.DecodeJSONRPCRequest, []byte(`{"name":"Ada"}`)},
		{"json-rpc response", codec.EncodeJSONRPCResponse, codec.DecodeJSONRPCResponse, []byte(`{"message":"Hello Ada"}`)},
		{"proto-rpc request", codec.EncodeProtoRPCRequest, codec.DecodeProtoRPCRequest, []byte{0x0a, 0x03, 'A', 'd', 'a'}},
		{"proto-rpc response", codec.EncodeProtoRPCResponse, codec.DecodeProtoRPCResponse, []byte{0x0a, 0x01, 'H'}},
	} {
		t.Run(p.name, func(t *testing.T) {
			in := codec.Envelope{Method: "Greeter.Hello", ID: "7", Body: p.body}
			data, err := p.encode(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if out.ID != "7" || !bytes.Equal(out.Body, p.body) {
				t.Fatalf("want id 7 body %q, have %+v", p.body, out)
			}
		})
	}
}

func TestRPCEnvelopeErrors(t *testing.T) {
	data, _ := codec.EncodeProtoRPCResponse(codec.Envelope{ID: "1", Error: `{"code":404}`})
	e, err := codec.DecodeProtoRPCResponse(data)
	if err != nil || e.Error != `{"code":404}` || len(e.Body) != 0 {
		t.Fatalf("proto-rpc error: %+v %v", e, err)
	}
	data, _ = codec.EncodeJSONRPCResponse(codec.Envelope{ID: "1", Error: "boom"})
	e, err = codec.DecodeJSONRPCResponse(data)
	if err != nil || e.Error != "boom" {
		t.Fatalf("json-rpc error: %+v %v", e, err)
	}
	for _, bad := range [][]byte{nil, {0, 0, 0, 9, 1}, {0, 0, 0, 0}} {
		if _, err := codec.DecodeProtoRPCResponse(bad); !errors.Is(err, codec.ErrEnvelope) {
			t.Errorf("DecodeProtoRPCResponse(%v): want ErrEnvelope, have %v", bad, err)
		}
	}
	if _, err := codec.DecodeJSONRPCResponse([]byte("nope")); !errors.Is(err, codec.ErrEnvelope) {
		t.Errorf("want ErrEnvelope, have %v", err)
	}
	if _, err := codec.EncodeJSONRPCRequest(codec.Envelope{Body: []byte("{")}); err == nil {
		t.Error("a request body that is not JSON was wrapped")
	}
}
