package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/pkg/call"
)

// Protocols, as the access log and the metrics name them.
const (
	protocolPlain   = "json"
	protocolConnect = "connect"
	protocolGRPCWeb = "grpc-web"
)

// callContext bounds a call by the time limit the request asks for, or the
// gateway's.
func (g *Gateway) callContext(r *http.Request) (context.Context, context.CancelFunc, error) {
	timeout, asked, err := requestTimeout(r.Header)
	if err != nil {
		return nil, nil, err
	}
	if !asked {
		timeout = g.opts.Timeout
	}
	if g.opts.MaxTimeout > 0 && timeout > g.opts.MaxTimeout {
		timeout = g.opts.MaxTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, nil
}

// readBody reads a request body up to the limit, undoing a gzip
// Content-Encoding.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request, encodingHeader string) ([]byte, error) {
	return g.readBodyInto(nil, w, r, encodingHeader)
}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 64 << 10

// readPooledBody is readBody into a buffer of the gateway's pool: the
// request path hands it back with releaseBody once the call is over, so
// that a call costs no body buffer of its own.
func (g *Gateway) readPooledBody(w http.ResponseWriter, r *http.Request, encodingHeader string) (*[]byte, []byte, error) {
	buf, _ := g.bodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	data, err := g.readBodyInto((*buf)[:0], w, r, encodingHeader)
	if cap(data) <= maxPooledBody {
		*buf = data[:0]
	}
	return buf, data, err
}

// releaseBody gives a buffer of readPooledBody back.
func (g *Gateway) releaseBody(buf *[]byte) {
	if cap(*buf) <= maxPooledBody {
		g.bodies.Put(buf)
	}
}

// readBodyInto is readBody appending to dst.
func (g *Gateway) readBodyInto(dst []byte, w http.ResponseWriter, r *http.Request, encodingHeader string) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes)
	var reader io.Reader = body
	enc := ""
	if encodingHeader != "" {
		if v := r.Header.Get(encodingHeader); v != "" {
			enc = strings.ToLower(strings.TrimSpace(v))
		}
	}
	size := r.ContentLength
	switch enc {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(body)
		if err != nil {
			return nil, errorf(codes.InvalidArgument, "%s gzip: %v", encodingHeader, err)
		}
		defer gz.Close()
		reader = io.LimitReader(gz, g.opts.MaxBodyBytes+1)
		size = -1
	default:
		return nil, errorf(codes.Unimplemented, "%s %q is not supported: send gzip or identity", encodingHeader, enc)
	}
	data, err := readAll(dst, reader, size, g.opts.MaxBodyBytes)
	if err != nil && errors.As(err, new(*http.MaxBytesError)) || int64(len(data)) > g.opts.MaxBodyBytes {
		return nil, &Error{Code: codes.ResourceExhausted, Message: sprintf("request body is larger than the gateway's limit of %d bytes", g.opts.MaxBodyBytes), HTTPStatus: http.StatusRequestEntityTooLarge}
	}
	if err != nil {
		return nil, errorf(codes.InvalidArgument, "read request body: %v", err)
	}
	return data, nil
}

// readAll is io.ReadAll appending to dst, with room made at once for a
// body of a known size (up to limit).
func readAll(dst []byte, r io.Reader, size, limit int64) ([]byte, error) {
	if size > 0 && size <= limit && int64(cap(dst)-len(dst)) <= size {
		// One more byte than the body, so that the read that finds the
		// end needs no room of its own.
		dst = slices.Grow(dst, int(size)+1)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return dst, err
		}
	}
}

// newInput returns an empty request message of method.
func newInput(method protoreflect.MethodDescriptor) proto.Message {
	return dynamicpb.NewMessage(method.Input())
}

// parseJSONRequest reads a JSON request of t; an empty body is an empty
// message.
func (g *Gateway) parseJSONRequest(t target, data []byte) (proto.Message, error) {
	msg := newInput(t.method)
	if len(bytes.TrimSpace(data)) == 0 {
		return msg, nil
	}
	parse := t.parseJSON
	if parse == nil {
		parse = func(data []byte, msg proto.Message) error { return call.ParseJSON(data, msg, g.resolverFor(t.service)) }
	}
	if err := parse(data, msg); err != nil {
		return nil, errorf(codes.InvalidArgument, "request for %s: %v", t.method.FullName(), err)
	}
	return msg, nil
}

// parseProtoRequest reads a binary protobuf request of t.
func (g *Gateway) parseProtoRequest(t target, data []byte) (proto.Message, error) {
	msg := newInput(t.method)
	if err := (proto.UnmarshalOptions{Resolver: g.resolverFor(t.service)}).Unmarshal(data, msg); err != nil {
		return nil, errorf(codes.InvalidArgument, "request for %s is not a valid %s: %v", t.method.FullName(), t.method.Input().FullName(), err)
	}
	return msg, nil
}

// resolverFor is the resolver of service's types (the built-in ones when
// service is unknown).
func (g *Gateway) resolverFor(service string) call.Resolver {
	if service == "" {
		return nil
	}
	return g.opts.Client.Resolver(service)
}

// jsonFormatter writes responses of service as compact JSON; one formatter
// per service, made once (making one is not free).
func (g *Gateway) jsonFormatter(service string) call.Formatter {
	if f, ok := g.formatters.Load(service); ok {
		return f.(call.Formatter)
	}
	f := call.NewJSONFormatter(g.resolverFor(service), call.FormatOptions{})
	g.formatters.Store(service, f)
	return f
}

// unsupportedStreaming is the answer to a client or bidi streaming method.
func unsupportedStreaming(t target) error {
	kind := "client-streaming"
	if t.method.IsStreamingServer() {
		kind = "bidirectional-streaming"
	}
	return errorf(codes.Unimplemented, "%s is %s, which the gateway does not serve over HTTP: call it with gRPC (micro stream %s %s)", t.method.FullName(), kind, t.service, t.endpoint)
}

// invoke calls t with req and tells handler what comes back.
func (g *Gateway) invoke(ctx context.Context, t target, req proto.Message, md metadata.MD, handler ResponseHandler) error {
	return g.opts.Client.Invoke(ctx, t.service, t.method, req, md, handler)
}
