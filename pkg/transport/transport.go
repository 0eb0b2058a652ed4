package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Names of the transports, as nodes advertise them in their "transport"
// metadata (go-micro writes "grpc" or "http").
const (
	NameGRPC = "grpc"
	NameHTTP = "http"
)

// Transport moves requests to nodes. Dial connects to one node; the Conn
// it returns carries any number of requests until it is closed.
type Transport interface {
	// Name is the transport's name: "grpc" or "http".
	Name() string
	// Dial connects to address (host:port). An error that means nothing
	// reached the node is a *ConnectError.
	Dial(ctx context.Context, address string) (Conn, error)
}

// Conn is a connection to one node. It is safe for concurrent use.
type Conn interface {
	// Address is the host:port the connection was made to.
	Address() string
	// Call sends one request and reads its response. An error answer of
	// the server is an *Error; a request that could not be sent because
	// the node could not be reached is a *ConnectError.
	Call(ctx context.Context, req *Request) (*Response, error)
	// NewStream opens a stream of the kind desc says. Transports that have
	// no streams return an error wrapping ErrStreamsUnsupported.
	NewStream(ctx context.Context, desc StreamDesc, req *Request) (Stream, error)
	// Close closes the connection; calls in progress fail.
	Close() error
}

// Metadata is the caller's metadata of a request, or the headers and
// trailers of a response. Keys are lower case for gRPC; the HTTP transport
// sends them as HTTP headers.
type Metadata map[string][]string

// Get returns the first value of key (compared without case), or "".
func (md Metadata) Get(key string) string {
	for k, v := range md {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// Request is one request to a node.
type Request struct {
	// Service is the registered name of the service ("greeter").
	Service string
	// Endpoint is the method in go-micro's form, "Greeter.Hello". The
	// HTTP transport sends it in Micro-Endpoint.
	Endpoint string
	// Method is the gRPC method name, "/greeter.v1.Greeter/Hello". The
	// gRPC transport needs it; when empty it is built from Endpoint.
	Method string
	// ContentType names the codec of Body: application/json,
	// application/protobuf, application/json-rpc, application/proto-rpc.
	// The gRPC transport always sends protobuf.
	ContentType string
	// Metadata is sent as gRPC metadata or HTTP headers.
	Metadata Metadata
	// Body is the encoded request (for json-rpc and proto-rpc: the request
	// itself, which the transport puts in the envelope).
	Body []byte
}

// MethodName returns req.Method, or the gRPC name of Endpoint when Method
// is empty ("Greeter.Hello" is "/Greeter/Hello").
func (req *Request) MethodName() string {
	if req.Method != "" {
		return req.Method
	}
	i := strings.LastIndex(req.Endpoint, ".")
	if i < 0 {
		return "/" + req.Endpoint
	}
	return "/" + req.Endpoint[:i] + "/" + req.Endpoint[i+1:]
}

// Response is the answer to a Request.
type Response struct {
	// ContentType names the codec of Body.
	ContentType string
	// Header holds the response headers; Trailer the trailers (gRPC only).
	Header, Trailer Metadata
	// Body is the encoded response.
	Body []byte
}

// StreamDesc says which side of a stream sends more than one message.
type StreamDesc struct {
	ClientStreams, ServerStreams bool
}

// Stream is an open stream. Send and Recv may be called from different
// goroutines, but not each from several at once.
type Stream interface {
	// Send sends one encoded message.
	Send(body []byte) error
	// CloseSend ends the sending side.
	CloseSend() error
	// Recv reads the next encoded message; io.EOF at the end, an *Error
	// when the server ended the stream with one.
	Recv() ([]byte, error)
	// Header returns the response headers, waiting for them.
	Header() (Metadata, error)
	// Trailer returns the trailers, once Recv returned an error.
	Trailer() Metadata
}

// ErrStreamsUnsupported is wrapped by NewStream of a transport without
// streams (go-micro's HTTP transport). Call such nodes unary, or serve the
// method over gRPC.
var ErrStreamsUnsupported = errors.New("streams are not supported")

// ConnectError is the error of a request that never reached the node: the
// connection could not be made. A client may send the request to another
// node.
type ConnectError struct {
	// Transport is the name of the transport ("grpc", "http").
	Transport string
	// Address is the node's host:port.
	Address string
	// Err is the cause.
	Err error
}

// Error is "connect to ADDRESS: CAUSE".
func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect to %s: %s", e.Address, ShortCause(e.Err))
}

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

// ShortCause drops the parts of a network error that repeat the operation
// and the address: "connection refused" rather than "dial tcp 127.0.0.1:1:
// connect: connection refused".
func ShortCause(err error) string {
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		return sysErr.Err.Error()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}

// Error is an error answer of a server: the call reached it and it said
// no. Code is the gRPC code (for the HTTP transport, the nearest one to
// go-micro's HTTP-style code); status.FromError sees it.
type Error struct {
	// Transport is the name of the transport ("grpc", "http").
	Transport string
	// Address is the node's host:port.
	Address string
	// Method is what was called: "Greeter.Hello" or "/pkg.Service/Method".
	Method string
	// Code is the gRPC code of the error.
	Code codes.Code
	// Detail is the server's message.
	Detail string
	// ID, MicroCode and MicroStatus are the fields of go-micro's error
	// ({"id":..., "code":..., "detail":..., "status":...}), when the
	// server sent one.
	ID          string
	MicroCode   int32
	MicroStatus string
	// Status is the full gRPC status, with details, when the server sent one.
	Status *status.Status
}

// Error is "call Greeter.Hello at 127.0.0.1:1234: NotFound: detail", on one
// line.
func (e *Error) Error() string {
	at := ""
	if e.Address != "" {
		at = " at " + e.Address
	}
	detail := strings.Join(strings.Fields(e.Detail), " ")
	if e.ID != "" && e.MicroCode != 0 {
		return fmt.Sprintf("call %s%s: %s: %s (%s %d %s)", e.Method, at, e.Code, detail, e.ID, e.MicroCode, e.MicroStatus)
	}
	return fmt.Sprintf("call %s%s: %s: %s", e.Method, at, e.Code, detail)
}

// GRPCStatus returns the status, for status.FromError and status.Code.
func (e *Error) GRPCStatus() *status.Status {
	if e.Status != nil {
		return e.Status
	}
	return status.New(e.Code, e.Detail)
}

// CodeFromHTTP maps go-micro's HTTP-style error code to the nearest gRPC
// code, so that a failed call exits 64 + code whatever the transport:
// 400 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied,
// 404 NotFound, 405 and 501 Unimplemented, 408 and 504 DeadlineExceeded,
// 409 AlreadyExists, 412 FailedPrecondition, 429 ResourceExhausted,
// 499 Canceled, 500 Internal, 502 and 503 Unavailable; any other 4xx
// FailedPrecondition, any other 5xx Internal, and anything else Unknown.
func CodeFromHTTP(code int32) codes.Code {
	switch code {
	case 400:
		return codes.InvalidArgument
	case 401:
		return codes.Unauthenticated
	case 403:
		return codes.PermissionDenied
	case 404:
		return codes.NotFound
	case 405, 501:
		return codes.Unimplemented
	case 408, 504:
		return codes.DeadlineExceeded
	case 409:
		return codes.AlreadyExists
	case 412:
		return codes.FailedPrecondition
	case 429:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case 500:
		return codes.Internal
	case 502, 503:
		return codes.Unavailable
	}
	switch {
	case code >= 400 && code < 500:
		return codes.FailedPrecondition
	case code >= 500 && code < 600:
		return codes.Internal
	}
	return codes.Unknown
}
