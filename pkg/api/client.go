package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
)

// Client is what the gateway calls services through. Services are named as
// the registry names them ("greeter"); the implementation picks the node.
// Errors that carry a gRPC status (status.FromError) are answered with that
// status; any other error is Unavailable when the service cannot be reached
// and Unknown otherwise.
type Client interface {
	// Describe returns the gRPC services that service serves (without
	// reflection and health), for listings, schemas and OpenAPI. It
	// returns an error wrapping ErrNoDescriptors when the service cannot
	// describe itself (no reflection: a go-micro mucp service, say).
	Describe(ctx context.Context, service string) ([]protoreflect.ServiceDescriptor, error)
	// FindMethod resolves endpoint ("Greeter.Hello",
	// "greeter.v1.Greeter.Hello" or "greeter.v1.Greeter/Hello") to a
	// method of service.
	FindMethod(ctx context.Context, service, endpoint string) (protoreflect.MethodDescriptor, error)
	// Invoke calls a unary or server-streaming method of service with one
	// request and the request metadata md, and tells handler the response
	// headers, each response and the trailers, in that order.
	Invoke(ctx context.Context, service string, method protoreflect.MethodDescriptor, req proto.Message, md metadata.MD, handler ResponseHandler) error
	// Resolver returns the types known for service, to read and write
	// google.protobuf.Any values and error details.
	Resolver(service string) call.Resolver
}

// EndpointCaller is implemented by a Client that can also call endpoints
// known only from their registry records, with JSON bodies: go-micro's
// mucp services, which have no reflection. The gateway uses it for a
// service whose nodes all say protocol "mucp", or that has no descriptors.
type EndpointCaller interface {
	// CallEndpoint calls endpoint ("Greeter.Hello") of service with a JSON
	// request body and returns the JSON response body and the response
	// metadata.
	CallEndpoint(ctx context.Context, service, endpoint string, body []byte, md metadata.MD) ([]byte, metadata.MD, error)
}

// ResponseHandler is told what a call returns. Nil functions are skipped.
type ResponseHandler struct {
	// Header is told the response headers, once, before any message.
	Header func(metadata.MD)
	// Message is told each response. An error ends the call and is what
	// Invoke returns.
	Message func(proto.Message) error
	// Trailer is told the trailers, once, at the end (also of a failed
	// call).
	Trailer func(metadata.MD)
}

// ErrNoDescriptors is wrapped by Client.Describe and Client.FindMethod when a
// service has no descriptors to offer; the gateway then falls back to the
// registry's endpoint records (and to EndpointCaller, when the client is
// one).
var ErrNoDescriptors = errors.New("no descriptors")
