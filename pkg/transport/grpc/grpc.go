package grpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/transport"
)

var _ transport.Transport = (*Transport)(nil)

// Transport is gRPC over HTTP/2, in plaintext or TLS, with every stream
// kind. Bodies cross it as encoded protobuf.
type Transport struct {
	opts DialOptions
}

// New returns the transport; opts say how every connection is made.
func New(opts DialOptions) *Transport { return &Transport{opts: opts} }

// Name implements transport.Transport: "grpc".
func (t *Transport) Name() string { return transport.NameGRPC }

// Dial implements transport.Transport. It returns once the connection is
// ready, or fails at once with the real cause (see Dial).
func (t *Transport) Dial(ctx context.Context, address string) (transport.Conn, error) {
	cc, err := Dial(ctx, address, t.opts)
	if err != nil {
		return nil, err
	}
	return &Conn{cc: cc, address: address}, nil
}

// Conn is a gRPC connection to one node. ClientConn gives the connection
// itself, for generated stubs and dynamic messages.
type Conn struct {
	cc      *grpc.ClientConn
	address string
	once    sync.Once
	err     error
}

var _ transport.Conn = (*Conn)(nil)

// ClientConn returns the gRPC connection.
func (c *Conn) ClientConn() *grpc.ClientConn { return c.cc }

// Address implements transport.Conn.
func (c *Conn) Address() string { return c.address }

// Close implements transport.Conn.
func (c *Conn) Close() error {
	c.once.Do(func() { c.err = c.cc.Close() })
	return c.err
}

// Call implements transport.Conn: a unary call of req.MethodName() with
// req.Body as the encoded request.
func (c *Conn) Call(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	ctx = outgoing(ctx, req.Metadata)
	in := rawMessage(req.Body)
	var out rawMessage
	var header, trailer metadata.MD
	err := c.cc.Invoke(ctx, req.MethodName(), &in, &out, grpc.ForceCodec(rawCodec{}), grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return nil, c.callError(req, err)
	}
	return &transport.Response{
		ContentType: "application/protobuf",
		Header:      transport.Metadata(header),
		Trailer:     transport.Metadata(trailer),
		Body:        out,
	}, nil
}

// NewStream implements transport.Conn.
func (c *Conn) NewStream(ctx context.Context, desc transport.StreamDesc, req *transport.Request) (transport.Stream, error) {
	ctx = outgoing(ctx, req.Metadata)
	sd := &grpc.StreamDesc{ClientStreams: desc.ClientStreams, ServerStreams: desc.ServerStreams}
	cs, err := c.cc.NewStream(ctx, sd, req.MethodName(), grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return nil, c.callError(req, err)
	}
	return &stream{c: c, req: req, cs: cs}, nil
}

func (c *Conn) callError(req *transport.Request, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if _, ok := status.FromError(err); !ok {
			return err
		}
	}
	st := status.Convert(err)
	return &transport.Error{
		Transport: transport.NameGRPC, Address: c.address, Method: req.MethodName(),
		Code: st.Code(), Detail: st.Message(), Status: st,
	}
}

func outgoing(ctx context.Context, md transport.Metadata) context.Context {
	if len(md) == 0 {
		return ctx
	}
	out := metadata.MD{}
	for k, v := range md {
		out.Append(k, v...)
	}
	if have, ok := metadata.FromOutgoingContext(ctx); ok {
		out = metadata.Join(have, out)
	}
	return metadata.NewOutgoingContext(ctx, out)
}

type stream struct {
	c   *Conn
	req *transport.Request
	cs  grpc.ClientStream
}

func (s *stream) Send(body []byte) error {
	msg := rawMessage(body)
	err := s.cs.SendMsg(&msg)
	if err != nil && !errors.Is(err, io.EOF) {
		return s.c.callError(s.req, err)
	}
	return err
}

func (s *stream) CloseSend() error { return s.cs.CloseSend() }

func (s *stream) Recv() ([]byte, error) {
	var out rawMessage
	if err := s.cs.RecvMsg(&out); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, s.c.callError(s.req, err)
	}
	return out, nil
}

func (s *stream) Header() (transport.Metadata, error) {
	md, err := s.cs.Header()
	if err != nil {
		return nil, s.c.callError(s.req, err)
	}
	return transport.Metadata(md), nil
}

func (s *stream) Trailer() transport.Metadata { return transport.Metadata(s.cs.Trailer()) }

// rawMessage is an encoded protobuf message that rawCodec passes through.
type rawMessage []byte

// rawCodec hands encoded bytes to gRPC untouched. Its name is "proto", so
// the content type on the wire stays application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *rawMessage:
		return *m, nil
	case rawMessage:
		return m, nil
	}
	return nil, fmt.Errorf("grpc transport: cannot marshal %T: want encoded bytes", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return status.Errorf(codes.Internal, "grpc transport: cannot unmarshal into %T", v)
	}
	*m = append((*m)[:0], data...)
	return nil
}
