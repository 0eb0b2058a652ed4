package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/mucp"
	"github.com/microtools/micro/pkg/codec"
	"github.com/microtools/micro/pkg/transport"
	httptransport "github.com/microtools/micro/pkg/transport/http"
	"github.com/microtools/micro/pkg/transport/transporttest"
)

// startFixture serves the mucp fixture, which stands in for a default
// go-micro service (see internal/mucp).
func startFixture(t *testing.T) *mucp.Server {
	t.Helper()
	srv, err := mucp.Listen("greeter", "1.0.0", "", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func jsonHello(name string) *transport.Request {
	body, _ := json.Marshal(map[string]string{"name": name})
	return &transport.Request{Service: "greeter", Endpoint: "Greeter.Hello", ContentType: codec.ContentTypeJSON, Body: body}
}

func jsonMessage(body []byte) (string, error) {
	var resp struct {
		Message string `json:"message"`
	}
	err := json.Unmarshal(body, &resp)
	return resp.Message, err
}

func protoHello(name string) *transport.Request {
	body, _ := proto.Marshal(&greeterpb.HelloRequest{Name: name})
	return &transport.Request{Service: "greeter", Endpoint: "Greeter.Hello", ContentType: codec.ContentTypeProto, Body: body}
}

func protoMessage(body []byte) (string, error) {
	var resp greeterpb.HelloResponse
	err := proto.Unmarshal(body, &resp)
	return resp.GetMessage(), err
}

func TestContract(t *testing.T) {
	codecs := []struct {
		name        string
		contentType string
		request     func(string) *transport.Request
		message     func([]byte) (string, error)
	}{
		{"json", codec.ContentTypeJSON, jsonHello, jsonMessage},
		{"protobuf", codec.ContentTypeProto, protoHello, protoMessage},
		{"json-rpc", codec.ContentTypeJSONRPC, jsonHello, jsonMessage},
		{"proto-rpc", codec.ContentTypeProtoRPC, protoHello, protoMessage},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) transporttest.Harness {
				srv := startFixture(t)
				return transporttest.Harness{
					Transport: httptransport.New(httptransport.Options{}),
					Address:   srv.Addr(),
					Request: func(name string) *transport.Request {
						req := c.request(name)
						req.ContentType = c.contentType
						return req
					},
					Message: c.message,
				}
			})
		})
	}
}

func TestHeaders(t *testing.T) {
	srv := startFixture(t)
	conn, err := httptransport.New(httptransport.Options{}).Dial(context.Background(), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := jsonHello("Ada")
	req.Metadata = transport.Metadata{"Trace-Id": {"abc"}}
	if _, err := conn.Call(ctx, req); err != nil {
		t.Fatal(err)
	}
	h := srv.LastHeaders()
	for key, want := range map[string]string{
		"Micro-Service":  "greeter",
		"Micro-Endpoint": "Greeter.Hello",
		"Micro-Method":   "Greeter.Hello",
		"Content-Type":   "application/json",
		"Trace-Id":       "abc",
	} {
		if have := h.Get(key); have != want {
			t.Errorf("header %s: want %q, have %q", key, want, have)
		}
	}
	if h.Get("Micro-Id") == "" {
		t.Error("no Micro-Id header")
	}
	if timeout := h.Get("Timeout"); timeout == "" || strings.HasPrefix(timeout, "-") {
		t.Errorf("Timeout header: %q", timeout)
	}
}

func TestErrorMapping(t *testing.T) {
	srv := startFixture(t)
	conn, err := httptransport.New(httptransport.Options{}).Dial(context.Background(), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	tests := []struct {
		code       int32
		want       codes.Code
		wantDetail string
	}{
		{404, codes.NotFound, "no such greeting"},
		{401, codes.Unauthenticated, "who are you"},
		{408, codes.DeadlineExceeded, "too slow"},
		{500, codes.Internal, "broken\nin two lines"},
		{503, codes.Unavailable, "later"},
		{418, codes.FailedPrecondition, "teapot"},
	}
	for _, tt := range tests {
		body, _ := json.Marshal(map[string]any{"code": tt.code, "detail": tt.wantDetail})
		_, err := conn.Call(context.Background(), &transport.Request{Service: "greeter", Endpoint: "Greeter.Fail", ContentType: codec.ContentTypeJSON, Body: body})
		var te *transport.Error
		if !errors.As(err, &te) {
			t.Fatalf("code %d: want *transport.Error, have %T %v", tt.code, err, err)
		}
		if status.Code(err) != tt.want || te.MicroCode != tt.code || te.Detail != tt.wantDetail || te.ID != "greeter" {
			t.Errorf("code %d: want %s %q, have %s %+v", tt.code, tt.want, tt.wantDetail, status.Code(err), te)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("code %d: the error is not one line: %q", tt.code, err.Error())
		}
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		text       string
		httpStatus int
		want       codes.Code
		wantDetail string
	}{
		{`{"id":"go.micro.client","code":400,"detail":"bad","status":"Bad Request"}`, 200, codes.InvalidArgument, "bad"},
		{"rpc: can't find service Nope", 200, codes.Unimplemented, "rpc: can't find service Nope"},
		{"rpc: can't find method Nope", 200, codes.Unimplemented, "rpc: can't find method Nope"},
		{"something odd", 200, codes.Unknown, "something odd"},
		{"Not Found", 404, codes.NotFound, "Not Found"},
		{`{"detail":"no code"}`, 200, codes.Unknown, "no code"},
	}
	for _, tt := range tests {
		code, detail, _, _, _ := httptransport.ParseError(tt.text, tt.httpStatus)
		if code != tt.want || detail != tt.wantDetail {
			t.Errorf("ParseError(%q, %d): want %s %q, have %s %q", tt.text, tt.httpStatus, tt.want, tt.wantDetail, code, detail)
		}
	}
}

func TestStreamErrorNamesTransport(t *testing.T) {
	srv := startFixture(t)
	conn, err := httptransport.New(httptransport.Options{}).Dial(context.Background(), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.NewStream(context.Background(), transport.StreamDesc{ServerStreams: true}, &transport.Request{Service: "greeter", Endpoint: "Greeter.Stream"})
	if !errors.Is(err, transport.ErrStreamsUnsupported) || !strings.Contains(err.Error(), "mucp over http") || !strings.Contains(err.Error(), srv.Addr()) {
		t.Fatalf("want an error naming the node's transport and address, have %v", err)
	}
}
