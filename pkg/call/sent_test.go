package call_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/internal/grpctest"
	"github.com/microtools/micro/pkg/call"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// WithRequestSent says true for every kind of call that reached a server,
// whether it succeeded, the server failed it, or the handler ended it
// with a stream still open; with and without a handler that collects
// headers (the two unary paths of Invoke).
func TestWithRequestSentReachedServer(t *testing.T) {
	greeter := grpctest.StartGreeter(t, false)
	failing := grpctest.Start(t, grpctest.Config{Options: []grpc.ServerOption{grpc.UnknownServiceHandler(
		func(any, grpc.ServerStream) error { return status.Error(codes.Unavailable, "going away") })}})
	src := greeterProtoSource(t)
	stop := errors.New("handler stops")
	for _, tc := range []struct {
		name, endpoint, requests string
		addr                     string
		handler                  call.EventHandler
		wantErr                  bool
	}{
		{"unary", "Greeter.Hello", `{"name":"Ann"}`, greeter.Addr, nil, false},
		{"unary with headers", "Greeter.Hello", `{"name":"Ann"}`, greeter.Addr, newRecorder(), false},
		{"server streaming", "Greeter.Stream", `{"name":"Ann","count":2}`, greeter.Addr, nil, false},
		{"client streaming", "Greeter.Collect", `{"name":"Ann"} {"name":"Ben"}`, greeter.Addr, nil, false},
		{"bidi", "Greeter.Chat", `{"name":"Ann"} {"name":"Ben"}`, greeter.Addr, newRecorder(), false},
		{"unary failed by the server", "Greeter.Hello", `{"name":"Ann"}`, failing.Addr, nil, true},
		{"unary failed by the server, with headers", "Greeter.Hello", `{"name":"Ann"}`, failing.Addr, newRecorder(), true},
		{"bidi failed by the server", "Greeter.Chat", `{"name":"Ann"}`, failing.Addr, nil, true},
		{"stream ended by the handler", "Greeter.Stream", `{"name":"Ann","count":5}`, greeter.Addr,
			call.HandlerFuncs{Response: func(proto.Message) error { return stop }}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			conn := dial(t, tc.addr, grpctransport.DialOptions{})
			method, err := call.FindMethod(ctx, src, "greeter", tc.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			sent := false
			err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(tc.requests), nil), tc.handler, call.WithRequestSent(&sent))
			if (err != nil) != tc.wantErr {
				t.Fatalf("want an error %v, have %v", tc.wantErr, err)
			}
			if !sent {
				t.Errorf("want the request told as sent, have not sent (error %v)", err)
			}
		})
	}
}

// WithRequestSent says false for a call that no server can have seen:
// the connection is down, so gRPC gives the call no stream. The flag is
// reset by Invoke, not left as the caller had it.
func TestWithRequestSentNoConnection(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now: connections are refused
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := testContext(t)
	src := greeterProtoSource(t)
	for _, tc := range []struct {
		name, endpoint, requests string
		handler                  call.EventHandler
	}{
		{"unary", "Greeter.Hello", `{"name":"Ann"}`, nil},
		{"unary with headers", "Greeter.Hello", `{"name":"Ann"}`, newRecorder()},
		{"server streaming", "Greeter.Stream", `{"name":"Ann","count":2}`, nil},
		{"bidi", "Greeter.Chat", `{"name":"Ann"}`, newRecorder()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, err := call.FindMethod(ctx, src, "greeter", tc.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			sent := true
			err = call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(tc.requests), nil), tc.handler, call.WithRequestSent(&sent))
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("want Unavailable (connection refused), have %v", err)
			}
			if sent {
				t.Errorf("want the request told as not sent, have sent")
			}
		})
	}
}

// Several WithHeaders add up, with the context's outgoing metadata; the
// caller's MD, kept by the option, is never changed by a call.
func TestWithHeadersAddUp(t *testing.T) {
	greeter := grpctest.StartGreeter(t, false)
	conn := dial(t, greeter.Addr, grpctransport.DialOptions{})
	ctx := metadata.AppendToOutgoingContext(testContext(t), "x-from-context", "c")
	method, err := call.FindMethod(ctx, greeterProtoSource(t), "greeter", "Greeter.Hello")
	if err != nil {
		t.Fatal(err)
	}
	first, second := metadata.Pairs("x-first", "1"), metadata.Pairs("x-second", "2")
	opts := []call.InvokeOption{call.WithHeaders(first), call.WithHeaders(second)}
	for range 2 { // the same options again, as a load generator uses them
		rec := newRecorder()
		if err := call.Invoke(ctx, conn, method, call.NewJSONSupplier(strings.NewReader(`{"name":"Ann"}`), nil), rec, opts...); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]string{"x-from-context": "c", "x-first": "1", "x-second": "2"} {
			if have := rec.sent.Get(key); len(have) != 1 || have[0] != want {
				t.Errorf("sent %s: want [%s], have %q (all sent: %v)", key, want, have, rec.sent)
			}
		}
	}
	if len(first) != 1 || len(second) != 1 {
		t.Errorf("the caller's metadata changed: %v, %v", first, second)
	}
}
