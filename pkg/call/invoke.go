package call

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// EventHandler is told what happens during a call, in order: the request
// headers sent, the response headers, each response, and the status with the
// trailers. Every method is called from the goroutine that called Invoke.
// A nil EventHandler is allowed: the responses are dropped, and headers and
// trailers are not even collected (nor are they for a HandlerFuncs without
// functions for them).
type EventHandler interface {
	// OnSendHeaders reports the request metadata sent (possibly empty).
	OnSendHeaders(md metadata.MD)
	// OnReceiveHeaders reports the response headers, once, before the
	// first response. A call that fails before the server answers reports
	// empty headers.
	OnReceiveHeaders(md metadata.MD)
	// OnReceiveResponse reports one response. The message is not used by
	// Invoke afterwards. An error ends the call (cancelling it) and is
	// what Invoke returns, as when writing the output fails.
	OnReceiveResponse(msg proto.Message) error
	// OnReceiveTrailers reports the status the call ended with (OK or not)
	// and the trailers.
	OnReceiveTrailers(st *status.Status, md metadata.MD)
}

// HandlerFuncs is an EventHandler made of functions; nil ones are skipped.
type HandlerFuncs struct {
	SendHeaders    func(metadata.MD)
	ReceiveHeaders func(metadata.MD)
	Response       func(proto.Message) error
	Trailers       func(*status.Status, metadata.MD)
}

var _ EventHandler = HandlerFuncs{}

// OnSendHeaders calls h.SendHeaders.
func (h HandlerFuncs) OnSendHeaders(md metadata.MD) {
	if h.SendHeaders != nil {
		h.SendHeaders(md)
	}
}

// OnReceiveHeaders calls h.ReceiveHeaders.
func (h HandlerFuncs) OnReceiveHeaders(md metadata.MD) {
	if h.ReceiveHeaders != nil {
		h.ReceiveHeaders(md)
	}
}

// OnReceiveResponse calls h.Response.
func (h HandlerFuncs) OnReceiveResponse(msg proto.Message) error {
	if h.Response != nil {
		return h.Response(msg)
	}
	return nil
}

// OnReceiveTrailers calls h.Trailers.
func (h HandlerFuncs) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	if h.Trailers != nil {
		h.Trailers(st, md)
	}
}

// WriteResponses returns a handler that writes each response to w with
// format, followed by a newline, and ignores the other events: with a compact
// JSON formatter its output is NDJSON.
func WriteResponses(w io.Writer, format Formatter) EventHandler {
	return HandlerFuncs{Response: func(msg proto.Message) error {
		data, err := format(msg)
		if err != nil {
			return err
		}
		data = append(data, '\n')
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("write response: %w", err)
		}
		return nil
	}}
}

// InvokeOption changes how Invoke calls.
type InvokeOption func(*invokeOptions)

type invokeOptions struct {
	headers          metadata.MD
	callOptions      []grpc.CallOption
	trace            *ClientTrace    // for the client that calls by name (TraceOf)
	discardResponses bool            // WithoutDecodingResponses
	wireCodec        grpc.CallOption // made once by WithoutDecodingResponses
	sent             *bool           // WithRequestSent
}

// WithHeaders sends md as request metadata, added to any outgoing metadata
// already in the context.
func WithHeaders(md metadata.MD) InvokeOption {
	return func(o *invokeOptions) {
		if o.headers == nil {
			o.headers = md // not copied: Invoke joins it into a new MD, never changes it
			return
		}
		o.headers = metadata.Join(o.headers, md)
	}
}

// WithCallOptions adds gRPC call options, such as grpc.MaxCallRecvMsgSize or
// grpc.WaitForReady.
func WithCallOptions(opts ...grpc.CallOption) InvokeOption {
	return func(o *invokeOptions) { o.callOptions = append(o.callOptions, opts...) }
}

// WithRequestSent makes Invoke tell *sent, before it returns, whether the
// request headers of the call were handed to the connection, so that a
// server may have received the call: false when the call ended before
// that (no ready connection, a connection closed before the call started
// on it). When gRPC made the call again by itself (a transparent retry of
// a call the server did not process), it is its last attempt that
// counts. A stream that Invoke leaves open behind it (a handler error)
// counts as sent.
//
// The client that calls by name (pkg/client) decides with it whether a
// failed call may go to another node. It costs no more than gRPC's
// grpc.Peer call option: no stats handler on the connection.
func WithRequestSent(sent *bool) InvokeOption {
	return func(o *invokeOptions) { o.sent = sent }
}

// RPCError is the error of a call that ended with a status other than OK. It
// carries the status: status.FromError and status.Code work on it, and
// DescribeStatus shows its details.
type RPCError struct {
	// Method is the gRPC name of the method called (/pkg.Service/Method).
	Method string
	// Target is the address the connection was made to, when known.
	Target string
	// Status is the status the call ended with.
	Status *status.Status
}

// Error is "call /greeter.v1.Greeter/Hello at 127.0.0.1:50051: NotFound: ...".
func (e *RPCError) Error() string {
	at := ""
	if e.Target != "" {
		at = " at " + e.Target
	}
	return fmt.Sprintf("call %s%s: %s: %s", e.Method, at, e.Status.Code(), e.Status.Message())
}

// GRPCStatus returns the status, for status.FromError.
func (e *RPCError) GRPCStatus() *status.Status { return e.Status }

// Invoke calls method over conn with the requests supplier gives and tells
// handler what happens. It serves every kind of method:
//
//   - unary and server streaming: the supplier's first request is sent; a
//     supplier with none sends one empty request ({}); a second request is
//     an error (ErrTooManyRequests) and nothing is sent;
//   - client streaming: every request is sent, then the one response read;
//   - bidirectional streaming: requests are sent from another goroutine
//     while responses are read, so each response is handled as it comes.
//     When the server ends the call first, Invoke returns without waiting
//     for the supplier: a supplier blocked reading input is left to return
//     on its own, and its result is dropped.
//
// Messages travel in the binary protobuf encoding (grpc's proto codec, with
// dynamic messages). A call that ends with a status other than OK returns an
// *RPCError; a supplier or handler error ends the call and is returned as it
// is.
func Invoke(ctx context.Context, conn grpc.ClientConnInterface, method protoreflect.MethodDescriptor, supplier RequestSupplier, handler EventHandler, opts ...InvokeOption) error {
	if supplier == nil {
		supplier = Messages()
	}
	c := &invocation{
		conn:     conn,
		method:   method,
		name:     FullMethodName(method),
		input:    dynamicpb.NewMessageType(method.Input()),
		output:   dynamicpb.NewMessageType(method.Output()),
		supplier: supplier,
		handler:  handler,
		metadata: WantsMetadata(handler),
	}
	o := &c.invokeOptions // in the invocation: not one more allocation
	for _, opt := range opts {
		opt(o)
	}
	c.options, c.discard = o.callOptions, o.discardResponses
	if c.sent != nil {
		*c.sent = false
	}
	if len(o.headers) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, metadata.Join(outgoing(ctx), o.headers))
	}
	if c.metadata {
		handler.OnSendHeaders(outgoing(ctx))
	}
	switch {
	case method.IsStreamingClient() && method.IsStreamingServer():
		return c.bidi(ctx)
	case method.IsStreamingClient():
		return c.clientStream(ctx)
	case method.IsStreamingServer():
		return c.serverStream(ctx)
	default:
		return c.unary(ctx)
	}
}

// WantsMetadata tells whether handler wants headers and trailers; if not,
// they are not collected (a nil handler, or HandlerFuncs without functions
// for them). A wrapper of handler keeps the answer by leaving those
// functions nil too.
func WantsMetadata(handler EventHandler) bool {
	if funcs, ok := handler.(HandlerFuncs); ok {
		return funcs.SendHeaders != nil || funcs.ReceiveHeaders != nil || funcs.Trailers != nil
	}
	return handler != nil
}

func outgoing(ctx context.Context) metadata.MD {
	md, _ := metadata.FromOutgoingContext(ctx)
	return md
}

// invocation is one call in progress.
type invocation struct {
	conn     grpc.ClientConnInterface
	method   protoreflect.MethodDescriptor
	name     string
	input    protoreflect.MessageType
	output   protoreflect.MessageType
	supplier RequestSupplier
	handler  EventHandler // nil: responses are dropped
	metadata bool         // the handler wants headers and trailers
	options  []grpc.CallOption
	discard  bool // responses are checked, not decoded (WithoutDecodingResponses)

	peer peer.Peer // of the call's last attempt, when WithRequestSent wants it
	buf  [4]grpc.CallOption

	// As the options of Invoke left them; wireCodec is made on first use
	// when no option made it.
	invokeOptions
}

// response is what the next response is read into: a new message, or an
// undecoded one when responses are not decoded (no message is made for it
// unless the handler is told of it).
func (c *invocation) response() any {
	if c.discard {
		return &undecoded{c.output}
	}
	return c.output.New().Interface()
}

// callOptions are the gRPC call options of a call that sends req, after
// extra: with wireCodec when req is Encoded or responses are not decoded,
// and with grpc.Peer when WithRequestSent wants to know whether the
// request was sent (gRPC fills the peer in once the last attempt has a
// stream, which is when its headers were handed to the connection).
func (c *invocation) callOptions(req proto.Message, extra ...grpc.CallOption) []grpc.CallOption {
	_, encoded := req.(*Encoded)
	wire := encoded || c.discard
	if !wire && c.sent == nil && len(extra) == 0 {
		return c.options
	}
	out := c.buf[:0]
	out = append(out, extra...)
	out = append(out, c.options...)
	if wire {
		if c.wireCodec == nil {
			c.wireCodec = forceWireCodec()
		}
		out = append(out, c.wireCodec)
	}
	if c.sent != nil {
		out = append(out, grpc.Peer(&c.peer))
	}
	return out
}

// noteSent tells WithRequestSent whether the call's last attempt had a
// stream; called once gRPC has finished the call in this goroutine (the
// unary call returned, a stream failed to open or ended on receive), so
// the peer is not being written.
func (c *invocation) noteSent() {
	if c.sent != nil {
		*c.sent = c.peer.Addr != nil
	}
}

// noteOpen tells WithRequestSent that the stream was opened, so its
// headers were sent: what counts for a stream that Invoke leaves behind
// unfinished (a handler or supplier error), until the stream ends on
// receive (noteSent).
func (c *invocation) noteOpen() {
	if c.sent != nil {
		*c.sent = true
	}
}

// delivered is what the handler is given of resp: the message itself, or
// an empty message of the output type for an undecoded response.
func delivered(resp any) proto.Message {
	if u, ok := resp.(*undecoded); ok {
		return u.output.New().Interface()
	}
	return resp.(proto.Message)
}

// single returns the one request of a unary or server-streaming call.
func (c *invocation) single() (proto.Message, error) {
	req, err := c.supplier(c.input)
	if errors.Is(err, io.EOF) {
		return c.input.New().Interface(), nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.supplier(c.input); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s takes one request, got more", ErrTooManyRequests, c.name)
	}
	return req, nil
}

func (c *invocation) unary(ctx context.Context) error {
	req, err := c.single()
	if err != nil {
		return err
	}
	resp := c.response()
	if !c.metadata {
		// No headers or trailers to collect.
		err := c.conn.Invoke(ctx, c.name, req, resp, c.callOptions(req)...)
		c.noteSent()
		if err == nil && c.handler != nil {
			if err := c.handler.OnReceiveResponse(delivered(resp)); err != nil {
				return err
			}
		}
		return c.finish(err, nil)
	}
	var headers, trailers metadata.MD
	err = c.conn.Invoke(ctx, c.name, req, resp, c.callOptions(req, grpc.Header(&headers), grpc.Trailer(&trailers))...)
	c.noteSent()
	c.handler.OnReceiveHeaders(headers)
	if err == nil {
		if err := c.handler.OnReceiveResponse(delivered(resp)); err != nil {
			return err
		}
	}
	return c.finish(err, trailers)
}

// finish reports how the call ended and returns its error.
func (c *invocation) finish(err error, trailers metadata.MD) error {
	if err == nil {
		if c.metadata {
			c.handler.OnReceiveTrailers(status.New(codes.OK, ""), trailers)
		}
		return nil
	}
	st := status.Convert(err)
	if c.metadata {
		c.handler.OnReceiveTrailers(st, trailers)
	}
	return &RPCError{Method: c.name, Target: targetOfConn(c.conn), Status: st}
}

func targetOfConn(conn grpc.ClientConnInterface) string {
	if t, ok := conn.(interface{ Target() string }); ok {
		return t.Target()
	}
	return ""
}

// newStream opens the call's stream; req is its one request when it has
// one (server streaming), for callOptions.
func (c *invocation) newStream(ctx context.Context, req proto.Message) (grpc.ClientStream, error) {
	desc := &grpc.StreamDesc{
		StreamName:    string(c.method.Name()),
		ServerStreams: c.method.IsStreamingServer(),
		ClientStreams: c.method.IsStreamingClient(),
	}
	stream, err := c.conn.NewStream(ctx, desc, c.name, c.callOptions(req)...)
	if err == nil {
		c.noteOpen()
	}
	return stream, err
}

// receive reads responses until the stream ends, reporting headers before the
// first and the status at the end.
func (c *invocation) receive(stream grpc.ClientStream) error {
	reportedHeaders := false
	for {
		resp := c.response()
		err := stream.RecvMsg(resp)
		if !reportedHeaders && c.metadata {
			headers, _ := stream.Header()
			c.handler.OnReceiveHeaders(headers)
			reportedHeaders = true
		}
		if err != nil {
			// gRPC has finished the stream in RecvMsg.
			c.noteSent()
		}
		if errors.Is(err, io.EOF) {
			return c.finish(nil, stream.Trailer())
		}
		if err != nil {
			return c.finish(err, stream.Trailer())
		}
		if c.handler != nil {
			if err := c.handler.OnReceiveResponse(delivered(resp)); err != nil {
				return err
			}
		}
	}
}

func (c *invocation) serverStream(ctx context.Context) error {
	req, err := c.single()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.newStream(ctx, req)
	if err != nil {
		return c.failedToStart(err)
	}
	// An error sending shows again, with the server's status, on receive.
	if err := stream.SendMsg(req); err == nil {
		_ = stream.CloseSend()
	}
	return c.receive(stream)
}

// failedToStart reports a stream that could not be opened.
func (c *invocation) failedToStart(err error) error {
	c.noteSent() // gRPC has finished the stream in NewStream
	if c.metadata {
		c.handler.OnReceiveHeaders(nil)
	}
	return c.finish(err, nil)
}

// send sends every request the supplier gives, then closes the sending side.
// It stops early, without error, when the stream is already over (the
// status shows on receive).
func (c *invocation) send(stream grpc.ClientStream) error {
	for {
		req, err := c.supplier(c.input)
		if errors.Is(err, io.EOF) {
			return stream.CloseSend()
		}
		if err != nil {
			return err
		}
		if err := stream.SendMsg(req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("send request to %s: %w", c.name, err)
		}
	}
}

func (c *invocation) clientStream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.newStream(ctx, nil)
	if err != nil {
		return c.failedToStart(err)
	}
	if err := c.send(stream); err != nil {
		return err
	}
	return c.receive(stream)
}

func (c *invocation) bidi(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.newStream(ctx, nil)
	if err != nil {
		return c.failedToStart(err)
	}
	sendDone := make(chan error, 1)
	go func() {
		err := c.send(stream)
		sendDone <- err
		if err != nil {
			cancel() // ends the receiving side too
		}
	}()
	recvErr := c.receive(stream)
	select {
	case sendErr := <-sendDone:
		if sendErr != nil {
			return sendErr
		}
	default:
		// Still sending (or blocked in the supplier): the call is over.
	}
	var rpcErr *RPCError
	if errors.As(recvErr, &rpcErr) && rpcErr.Status.Code() == codes.Canceled {
		// The stream may have been cancelled by a failing sender that
		// raced with the receiver; its error says why.
		select {
		case sendErr := <-sendDone:
			if sendErr != nil {
				return sendErr
			}
		default:
		}
	}
	return recvErr
}
