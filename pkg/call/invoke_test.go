package call_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// sourceSetup starts a greeter server and returns a connection to it and a
// descriptor source of one kind.
type sourceSetup struct {
	name  string
	start func(t *testing.T) (*grpc.ClientConn, call.DescriptorSource)
}

func sourceSetups() []sourceSetup {
	return []sourceSetup{
		{"reflection", func(t *testing.T) (*grpc.ClientConn, call.DescriptorSource) {
			server := grpctest.StartGreeter(t, true)
			conn := dial(t, server.Addr, grpctransport.DialOptions{})
			src := call.NewReflectionSource(conn)
			t.Cleanup(func() { src.Close() })
			return conn, src
		}},
		{"proto files", func(t *testing.T) (*grpc.ClientConn, call.DescriptorSource) {
			server := grpctest.StartGreeter(t, false)
			return dial(t, server.Addr, grpctransport.DialOptions{}), greeterProtoSource(t)
		}},
		{"protoset", func(t *testing.T) (*grpc.ClientConn, call.DescriptorSource) {
			server := grpctest.StartGreeter(t, false)
			path := writeGreeterProtoset(t)
			src, err := call.NewProtosetSource(path)
			if err != nil {
				t.Fatalf("NewProtosetSource: %v", err)
			}
			return dial(t, server.Addr, grpctransport.DialOptions{}), src
		}},
		{"cache over reflection", func(t *testing.T) (*grpc.ClientConn, call.DescriptorSource) {
			server := grpctest.StartGreeter(t, true)
			conn := dial(t, server.Addr, grpctransport.DialOptions{})
			fetch := call.NewReflectionSource(conn)
			t.Cleanup(func() { fetch.Close() })
			src, err := call.NewCachedSource(t.TempDir(), call.CacheKey{Service: "greeter", Version: "1.0.0"}, fetch)
			if err != nil {
				t.Fatalf("NewCachedSource: %v", err)
			}
			return conn, src
		}},
	}
}

// writeGreeterProtoset compiles greeter.proto and writes it, with its
// imports, as a protoset in a temporary directory.
func writeGreeterProtoset(t *testing.T) string {
	t.Helper()
	src := greeterProtoSource(t)
	fd, err := src.Files().FindFileByPath(greeterFile)
	if err != nil {
		t.Fatalf("find %s: %v", greeterFile, err)
	}
	data, err := proto.Marshal(call.DescriptorSetOf(fd))
	if err != nil {
		t.Fatalf("marshal protoset: %v", err)
	}
	path := filepath.Join(t.TempDir(), "greeter.protoset")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInvokeEveryKindThroughEverySource calls each of the greeter's methods,
// one of each kind gRPC has, through each kind of descriptor source.
func TestInvokeEveryKindThroughEverySource(t *testing.T) {
	calls := []struct {
		name      string
		endpoint  string
		input     string
		responses []string
	}{
		{
			name:      "unary",
			endpoint:  "Greeter.Hello",
			input:     `{"name": "Ada", "mood": "MOOD_HAPPY", "tags": ["a", "b"]}`,
			responses: []string{`{"message":"Hello Ada, lovely to see you! [a, b]"}`},
		},
		{
			name:      "unary with enum number and int64 as string",
			endpoint:  "greeter.v1.Greeter/Hello",
			input:     `{"name": "Ada", "mood": 2, "delayMs": "1"}`,
			responses: []string{`{"message":"Oh. Hello Ada."}`},
		},
		{
			name:      "unary with a well-known type",
			endpoint:  "greeter.v1.Greeter.Hello",
			input:     `{"name": "Ada", "sent_at": "2024-05-06T07:08:09Z"}`,
			responses: []string{`{"message":"Hello Ada (sent 2024-05-06T07:08:09Z)"}`},
		},
		{
			name:     "server streaming",
			endpoint: "greeter.v1.Greeter/Stream",
			input:    `{"name": "Bo", "count": 3}`,
			responses: []string{
				`{"message":"Hello Bo","sequence":1}`,
				`{"message":"Hello Bo","sequence":2}`,
				`{"message":"Hello Bo","sequence":3}`,
			},
		},
		{
			name:      "client streaming, NDJSON",
			endpoint:  "Greeter.Collect",
			input:     "{\"name\": \"A\"}\n{\"name\": \"B\"}\n{\"name\": \"C\"}\n",
			responses: []string{`{"message":"Hello A, B and C","count":3}`},
		},
		{
			name:      "client streaming, no requests",
			endpoint:  "Greeter.Collect",
			input:     "",
			responses: []string{`{"message":"Hello nobody"}`},
		},
		{
			name:     "bidi streaming, concatenated JSON",
			endpoint: "Greeter/Chat",
			input:    `{"name": "A"}{"name": "B", "mood": "MOOD_GRUMPY"}`,
			responses: []string{
				`{"message":"Hello A","sequence":1}`,
				`{"message":"Oh. Hello B.","sequence":2}`,
			},
		},
	}
	for _, setup := range sourceSetups() {
		t.Run(setup.name, func(t *testing.T) {
			conn, src := setup.start(t)
			for _, tc := range calls {
				t.Run(tc.name, func(t *testing.T) {
					ctx := testContext(t)
					method, err := call.FindMethod(ctx, src, "greeter", tc.endpoint)
					if err != nil {
						t.Fatalf("FindMethod(%q): %v", tc.endpoint, err)
					}
					resolver := call.NewResolver(ctx, src)
					rec := newRecorder()
					err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(tc.input), resolver), rec,
						call.WithHeaders(metadata.Pairs("x-request-id", "42")))
					if err != nil {
						t.Fatalf("Invoke(%s): %v", tc.endpoint, err)
					}
					if !reflect.DeepEqual(rec.responses, tc.responses) {
						t.Errorf("responses:\nwant %q\nhave %q", tc.responses, rec.responses)
					}
					if want, have := []string{"42"}, rec.sent.Get("x-request-id"); !reflect.DeepEqual(want, have) {
						t.Errorf("sent headers x-request-id: want %q, have %q", want, have)
					}
					if have := rec.headers.Get("content-type"); len(have) == 0 {
						t.Errorf("response headers: want content-type, have %v", rec.headers)
					}
					if rec.status == nil || rec.status.Code() != codes.OK {
						t.Errorf("status: want OK, have %v", rec.status)
					}
				})
			}
		})
	}
}

// TestInvokeUnaryWithoutBodySendsEmptyRequest checks the "empty = {}" rule: the
// greeter rejects an empty name, which proves an empty request was sent.
func TestInvokeUnaryWithoutBodySendsEmptyRequest(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	method, err := call.FindMethod(ctx, greeterProtoSource(t), "", "Greeter.Hello")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader("  \n"), nil), rec)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "name is required") {
		t.Fatalf("Invoke with no body: want InvalidArgument, name is required; have %v", err)
	}
	var rpcErr *call.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Method != "/greeter.v1.Greeter/Hello" || rpcErr.Target != server.Addr {
		t.Errorf("error: want an *RPCError for /greeter.v1.Greeter/Hello at %s, have %#v", server.Addr, err)
	}
	if rec.status.Code() != codes.InvalidArgument {
		t.Errorf("handler status: want InvalidArgument, have %v", rec.status)
	}
}

// TestInvokeBidiIsInteractive feeds a Chat call one line at a time and
// checks each answer arrives before the next line is written.
func TestInvokeBidiIsInteractive(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	method, err := call.FindMethod(ctx, greeterProtoSource(t), "greeter", "Greeter.Chat")
	if err != nil {
		t.Fatal(err)
	}
	input, typing := io.Pipe()
	responses := make(chan string, 10)
	format := call.NewJSONFormatter(nil, call.FormatOptions{})
	handler := call.HandlerFuncs{Response: func(msg proto.Message) error {
		data, err := format(msg)
		responses <- string(data)
		return err
	}}
	done := make(chan error, 1)
	go func() { done <- call.Invoke(ctx, conn, method, call.NewJSONSupplier(input, nil), handler) }()

	for i, name := range []string{"Ann", "Ben", "Cy"} {
		if _, err := fmt.Fprintf(typing, "{\"name\": %q}\n", name); err != nil {
			t.Fatalf("write line %d: %v", i+1, err)
		}
		want := fmt.Sprintf(`{"message":"Hello %s","sequence":%d}`, name, i+1)
		select {
		case have := <-responses:
			if have != want {
				t.Errorf("response %d: want %s, have %s", i+1, want, have)
			}
		case err := <-done:
			t.Fatalf("Invoke ended before response %d: %v", i+1, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no response to line %d within 10s: the call is not interactive", i+1)
		}
	}
	typing.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke did not end within 10s of the input ending")
	}
}

// TestInvokeBidiServerEndsFirst checks that Invoke returns when the server
// ends a bidi call, even though the supplier is still waiting for input.
func TestInvokeBidiServerEndsFirst(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	method, err := call.FindMethod(ctx, greeterProtoSource(t), "greeter", "Greeter.Chat")
	if err != nil {
		t.Fatal(err)
	}
	input, typing := io.Pipe()
	t.Cleanup(func() { typing.Close() })
	go fmt.Fprintln(typing, `{"name": ""}`) // the server ends the call: name is required
	err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(input, nil), nil)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Invoke: want InvalidArgument, have %v", err)
	}
}

// TestInvokeHandlerErrorEndsCall checks that a failing handler (a closed
// output, say) ends a stream early with its error.
func TestInvokeHandlerErrorEndsCall(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	method, err := call.FindMethod(ctx, greeterProtoSource(t), "greeter", "Greeter.Stream")
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("write /dev/stdout: broken pipe")
	count := 0
	handler := call.HandlerFuncs{Response: func(proto.Message) error {
		count++
		return broken
	}}
	err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(`{"name":"A","count":100}`), nil), handler)
	if !errors.Is(err, broken) {
		t.Fatalf("Invoke: want the handler's error, have %v", err)
	}
	if count != 1 {
		t.Errorf("responses handled: want 1, have %d", count)
	}
}

// TestInvokePrebuiltMessages sends generated messages, and messages built
// from JSON beforehand, without any JSON on the call's path.
func TestInvokePrebuiltMessages(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	ctx := testContext(t)
	method, err := call.FindMethod(ctx, greeterProtoSource(t), "greeter", "Greeter.Collect")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	requests := []proto.Message{}
	for _, name := range []string{"X", "Y"} {
		msg := dynamicRequest(t, method)
		if err := call.ParseJSON([]byte(fmt.Sprintf(`{"name": %q}`, name)), msg, nil); err != nil {
			t.Fatal(err)
		}
		requests = append(requests, msg)
	}
	if err := call.Invoke(ctx, conn, method, call.Messages(requests...), rec); err != nil {
		t.Fatal(err)
	}
	if want := []string{`{"message":"Hello X and Y","count":2}`}; !reflect.DeepEqual(rec.responses, want) {
		t.Errorf("responses: want %q, have %q", want, rec.responses)
	}
}

// TestFormatOptions checks EmitDefaults, ProtoNames and Indent.
func TestFormatOptions(t *testing.T) {
	d, err := kitchenSource(t).FindSymbol(testContext(t), "kitchen.v1.Item")
	if err != nil {
		t.Fatal(err)
	}
	msg := dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
	if err := call.ParseJSON([]byte(`{"sku":"A","unit_price":5}`), msg, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		opts call.FormatOptions
		want string
	}{
		{call.FormatOptions{}, `{"sku":"A","unitPrice":"5"}`},
		{call.FormatOptions{ProtoNames: true}, `{"sku":"A","unit_price":"5"}`},
		{call.FormatOptions{EmitDefaults: true}, `{"sku":"A","qty":0,"unitPrice":"5"}`},
		{call.FormatOptions{Indent: "  "}, "{\n  \"sku\": \"A\",\n  \"unitPrice\": \"5\"\n}"},
	}
	for _, tc := range tests {
		have, err := call.NewJSONFormatter(nil, tc.opts)(msg)
		if err != nil {
			t.Fatalf("format with %+v: %v", tc.opts, err)
		}
		if string(have) != tc.want {
			t.Errorf("format with %+v:\nwant %s\nhave %s", tc.opts, tc.want, have)
		}
		if !json.Valid(have) {
			t.Errorf("format with %+v: not valid JSON: %s", tc.opts, have)
		}
	}
}
