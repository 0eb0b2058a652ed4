package call_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// TestBadInput runs calls that must fail with an error that says what went
// wrong, and must never panic.
func TestBadInput(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	small := grpctest.StartGreeter(t, false, grpc.MaxRecvMsgSize(1024))
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	smallConn := dial(t, small.Addr, grpctransport.DialOptions{})
	limitedConn := dial(t, server.Addr, grpctransport.DialOptions{MaxMsgSize: 1024})
	src := greeterProtoSource(t)

	tests := []struct {
		name     string
		conn     *grpc.ClientConn
		endpoint string
		input    string
		timeout  time.Duration
		code     codes.Code // of the RPC, when it is sent
		wantErr  error
		mentions []string
	}{
		{name: "malformed JSON", endpoint: "Greeter.Hello", input: `{"name": `, mentions: []string{"request 1", "malformed JSON"}},
		{name: "malformed second request", endpoint: "Greeter.Collect", input: "{\"name\": \"A\"}\n{\"name\": ]", mentions: []string{"request 2", "malformed JSON"}},
		{name: "not an object", endpoint: "Greeter.Hello", input: `["Ada"]`, mentions: []string{"request 1", "JSON object", "greeter.v1.HelloRequest"}},
		{name: "unknown field", endpoint: "Greeter.Hello", input: `{"nmae": "Ada"}`, mentions: []string{"request 1", `unknown field "nmae"`, "greeter.v1.HelloRequest"}},
		{name: "wrong type", endpoint: "Greeter.Hello", input: `{"name": 5}`, mentions: []string{"request 1", "name"}},
		{name: "wrong type in int64", endpoint: "Greeter.Hello", input: `{"name": "A", "delayMs": "soon"}`, mentions: []string{"at delayMs", "soon"}},
		{name: "unknown enum name", endpoint: "Greeter.Hello", input: `{"name": "A", "mood": "MOOD_SLEEPY"}`, mentions: []string{"MOOD_SLEEPY"}},
		{name: "wrong type in third stream request", endpoint: "Greeter.Chat", input: `{"name":"A"}{"name":"B"}{"tags":"x"}`, mentions: []string{"request 3", "at tags"}},
		{name: "two requests to a unary method", endpoint: "Greeter.Hello", input: `{"name":"A"} {"name":"B"}`, wantErr: call.ErrTooManyRequests, mentions: []string{"/greeter.v1.Greeter/Hello"}},
		{name: "invalid argument from the server", endpoint: "Greeter.Hello", input: `{"name": ""}`, code: codes.InvalidArgument, mentions: []string{"name is required", "/greeter.v1.Greeter/Hello", server.Addr}},
		{
			name: "deadline exceeded", endpoint: "Greeter.Hello", input: `{"name": "A", "delayMs": 5000}`, timeout: 100 * time.Millisecond,
			code: codes.DeadlineExceeded, mentions: []string{"DeadlineExceeded", "/greeter.v1.Greeter/Hello"},
		},
		{
			name: "request over the server's size limit", conn: smallConn, endpoint: "Greeter.Hello",
			input: `{"name": "` + strings.Repeat("x", 4096) + `"}`, code: codes.ResourceExhausted, mentions: []string{"larger than max"},
		},
		{
			name: "request over the client's size limit", conn: limitedConn, endpoint: "Greeter.Hello",
			input: `{"name": "` + strings.Repeat("x", 4096) + `"}`, code: codes.ResourceExhausted, mentions: []string{"larger than max"},
		},
		{
			name: "response over the client's size limit", conn: limitedConn, endpoint: "Greeter.Collect",
			input: strings.Repeat(`{"name": "`+strings.Repeat("x", 200)+`"}`+"\n", 10),
			code:  codes.ResourceExhausted, mentions: []string{"larger than max"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			c := tc.conn
			if c == nil {
				c = conn
			}
			method, err := call.FindMethod(ctx, src, "greeter", tc.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			err = call.Invoke(ctx, c, method, call.NewJSONSupplier(strings.NewReader(tc.input), nil), newRecorder())
			if err == nil {
				t.Fatal("Invoke: want an error, have none")
			}
			if tc.code != codes.OK {
				st, ok := status.FromError(err)
				if !ok || st.Code() != tc.code {
					t.Errorf("status: want %v, have %v (%v)", tc.code, st.Code(), err)
				}
			} else if _, isRPC := errors.AsType[*call.RPCError](err); isRPC {
				t.Errorf("want an error before the call, have the call's status: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("want %v, have %v", tc.wantErr, err)
			}
			for _, mention := range tc.mentions {
				if !strings.Contains(err.Error(), mention) {
					t.Errorf("error %q does not mention %q", err, mention)
				}
			}
		})
	}
}

func TestReflectionUnsupported(t *testing.T) {
	server := grpctest.StartGreeter(t, false)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	src := call.NewReflectionSource(conn)
	t.Cleanup(func() { src.Close() })
	_, err := call.FindMethod(testContext(t), src, "greeter", "Greeter.Hello")
	if !errors.Is(err, call.ErrReflectionUnsupported) {
		t.Fatalf("want ErrReflectionUnsupported, have %v", err)
	}
	if !strings.Contains(err.Error(), server.Addr) {
		t.Errorf("error %q does not name the server", err)
	}
}

func TestReflectionSourceHonoursContext(t *testing.T) {
	server := grpctest.StartGreeter(t, true)
	conn := dial(t, server.Addr, grpctransport.DialOptions{})
	src := call.NewReflectionSource(conn)
	t.Cleanup(func() { src.Close() })

	cancelled, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, err := src.ListServices(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("ListServices with a cancelled context: want context.Canceled, have %v", err)
	}
	// The source still works with a live context.
	services, err := src.ListServices(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(services) == 0 {
		t.Error("no services")
	}
	if _, err := src.FindSymbol(testContext(t), "greeter.v1.Nothing"); !errors.Is(err, call.ErrSymbolNotFound) {
		t.Errorf("FindSymbol(greeter.v1.Nothing): want ErrSymbolNotFound, have %v", err)
	}
	src.Close()
	if _, err := src.ListServices(testContext(t)); !errors.Is(err, call.ErrClosed) {
		t.Errorf("ListServices after Close: want ErrClosed, have %v", err)
	}
}

func TestProtoSourceErrors(t *testing.T) {
	ctx := testContext(t)
	if _, err := call.NewProtoSource(ctx, []string{greeterImportPath}, "missing.proto"); err == nil || !strings.Contains(err.Error(), "missing.proto") {
		t.Errorf("missing file: want an error naming it, have %v", err)
	}
	if _, err := call.NewProtoSource(ctx, nil); err == nil {
		t.Error("no files: want an error")
	}
	// A file named by its path from the working directory is found under
	// its import path.
	if _, err := call.NewProtoSource(ctx, []string{greeterImportPath}, greeterImportPath+"/"+greeterFile); err != nil {
		t.Errorf("file named with its import path: %v", err)
	}
	if _, err := call.NewProtosetSource("testdata/nothing.protoset"); err == nil || !strings.Contains(err.Error(), "nothing.protoset") {
		t.Errorf("missing protoset: want an error naming it, have %v", err)
	}
	if _, err := call.NewProtosetSource(kitchenImportPath + "/" + kitchenFile); err == nil || !strings.Contains(err.Error(), "FileDescriptorSet") {
		t.Errorf("a .proto as a protoset: want an error, have %v", err)
	}
}
