package transport_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/transport"
)

func TestCodeFromHTTP(t *testing.T) {
	tests := map[int32]codes.Code{
		0: codes.Unknown, 200: codes.Unknown, 400: codes.InvalidArgument, 401: codes.Unauthenticated,
		403: codes.PermissionDenied, 404: codes.NotFound, 405: codes.Unimplemented, 408: codes.DeadlineExceeded,
		409: codes.AlreadyExists, 418: codes.FailedPrecondition, 429: codes.ResourceExhausted, 499: codes.Canceled,
		500: codes.Internal, 501: codes.Unimplemented, 502: codes.Unavailable, 503: codes.Unavailable,
		504: codes.DeadlineExceeded, 599: codes.Internal,
	}
	for code, want := range tests {
		if have := transport.CodeFromHTTP(code); have != want {
			t.Errorf("CodeFromHTTP(%d): want %s, have %s", code, want, have)
		}
	}
}

func TestErrorIsOneLineWithStatus(t *testing.T) {
	err := &transport.Error{Address: "127.0.0.1:1", Method: "Greeter.Hello", Code: codes.NotFound, Detail: "no\nsuch", ID: "greeter", MicroCode: 404, MicroStatus: "Not Found"}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "no such") {
		t.Fatalf("Error(): %q", err.Error())
	}
	if status.Code(err) != codes.NotFound {
		t.Fatalf("status.Code: %s", status.Code(err))
	}
}

func TestConnectError(t *testing.T) {
	err := &transport.ConnectError{Address: "127.0.0.1:1", Err: syscall.ECONNREFUSED}
	if !errors.Is(err, syscall.ECONNREFUSED) || err.Error() != "connect to 127.0.0.1:1: connection refused" {
		t.Fatalf("ConnectError: %v", err)
	}
}

func TestMethodName(t *testing.T) {
	for endpoint, want := range map[string]string{"Greeter.Hello": "/Greeter/Hello", "greeter.v1.Greeter.Hello": "/greeter.v1.Greeter/Hello"} {
		if have := (&transport.Request{Endpoint: endpoint}).MethodName(); have != want {
			t.Errorf("MethodName(%q): want %q, have %q", endpoint, want, have)
		}
	}
}
