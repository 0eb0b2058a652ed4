package api

import (
	"io"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
)

// CallEvents is the request and the event handler of one call that a
// Client's Invoke makes through pkg/call: Supply gives the one request,
// and the events of the call reach the gateway's ResponseHandler. One
// value serves as both, so a call costs one allocation for them.
type CallEvents struct {
	handler ResponseHandler
	request proto.Message
	sent    bool
}

var _ call.EventHandler = (*CallEvents)(nil)

// NewCallEvents returns the events of one call of req, passed on to h.
func NewCallEvents(req proto.Message, h ResponseHandler) *CallEvents {
	return &CallEvents{handler: h, request: req}
}

// Supply is the call's call.RequestSupplier: the request, then io.EOF.
func (e *CallEvents) Supply(protoreflect.MessageType) (proto.Message, error) {
	if e.sent {
		return nil, io.EOF
	}
	e.sent = true
	return e.request, nil
}

// OnSendHeaders implements call.EventHandler.
func (e *CallEvents) OnSendHeaders(metadata.MD) {}

// OnReceiveHeaders passes the response headers to the handler.
func (e *CallEvents) OnReceiveHeaders(md metadata.MD) {
	if e.handler.Header != nil {
		e.handler.Header(md)
	}
}

// OnReceiveResponse passes a response message to the handler.
func (e *CallEvents) OnReceiveResponse(msg proto.Message) error {
	if e.handler.Message != nil {
		return e.handler.Message(msg)
	}
	return nil
}

// OnReceiveTrailers passes the trailers to the handler.
func (e *CallEvents) OnReceiveTrailers(_ *status.Status, md metadata.MD) {
	if e.handler.Trailer != nil {
		e.handler.Trailer(md)
	}
}
