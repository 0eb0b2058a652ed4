package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/registry"
)

// Caller is what a Server calls services through. It is implemented over a
// client that finds nodes by service name (a selector, a connection pool,
// failover), so that the Server itself knows nothing of transports.
type Caller interface {
	// Describe returns the gRPC services that svc (one version of a
	// registered service) serves, from their descriptors: through server
	// reflection or a descriptor cache. It returns an error wrapping
	// ErrNoDescriptors for a service that has none to give (a go-micro
	// mucp service); its tools are then made from its registry record.
	Describe(ctx context.Context, svc *registry.Service) ([]protoreflect.ServiceDescriptor, error)
	// Call calls one endpoint with req.Body as the JSON request (or
	// requests) and hands each response, as JSON in the protobuf JSON
	// mapping, to onResponse: one for a unary or client-streaming
	// endpoint, each in turn for a server- or bidirectional-streaming one.
	// An error from onResponse ends the call and is returned. A call that
	// the service answered with an error status returns an error that
	// carries the status (status.FromError and errors.As with a
	// GRPCStatus() method find it).
	Call(ctx context.Context, req *Request, onResponse func(json.RawMessage) error) error
	// CheckHealth asks every registered node of service for its health
	// (grpc.health.v1), failing ones included.
	CheckHealth(ctx context.Context, service string) ([]NodeHealth, error)
}

// Request is one call a Server asks a Caller to make.
type Request struct {
	// Service is the registered service name: "greeter".
	Service string
	// Endpoint is the method to call: the full gRPC name
	// ("greeter.v1.Greeter.Hello") for endpoints from descriptors, or the
	// registry record's endpoint name ("Greeter.Hello") for the others.
	Endpoint string
	// Kind is how the endpoint streams: KindUnary, KindServerStream,
	// KindClientStream or KindBidiStream.
	Kind string
	// Body is the request as a JSON object; for KindClientStream and
	// KindBidiStream, a JSON array of the requests to send in order.
	Body json.RawMessage
	// Headers are the request metadata of the call.
	Headers map[string][]string
	// Protocol is what the service's nodes say they speak ("grpc", or
	// "mucp" for go-micro's RPC over HTTP), from their "protocol"
	// metadata when the tool was made; empty when they say nothing.
	Protocol string
}

// Endpoint kinds, as Request.Kind and describe_service say them.
const (
	KindUnary        = "unary"
	KindServerStream = "server-streaming"
	KindClientStream = "client-streaming"
	KindBidiStream   = "bidi-streaming"
)

// NodeHealth is the health of one node, as check_health reports it.
type NodeHealth struct {
	Node    string `json:"node"`
	Address string `json:"address"`
	Version string `json:"version,omitempty"`
	// Status is a grpc.health.v1 status (SERVING, NOT_SERVING, UNKNOWN,
	// SERVICE_UNKNOWN) or UNREACHABLE, UNIMPLEMENTED or ERROR.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// ErrNoDescriptors is wrapped by Caller.Describe for a service that cannot
// describe itself (no reflection, or a protocol without descriptors). Its
// tools are made from the field lists of its registry record.
var ErrNoDescriptors = errors.New("mcp: no descriptors")

// Values returns the request, or the requests of a client- or
// bidirectional-streaming call, as a stream of JSON values one a line (what
// a JSON request supplier reads).
func (r *Request) Values() (io.Reader, error) {
	if r.Kind != KindClientStream && r.Kind != KindBidiStream {
		return bytes.NewReader(r.Body), nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(r.Body, &list); err != nil {
		return nil, fmt.Errorf("mcp: the requests of %s are not a JSON array: %w", r.Endpoint, err)
	}
	var b bytes.Buffer
	for _, v := range list {
		b.Write(v)
		b.WriteByte('\n')
	}
	return &b, nil
}
