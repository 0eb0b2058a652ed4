package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/microtools/micro/pkg/codec"
	"github.com/microtools/micro/pkg/transport"
)

// Headers of go-micro's mucp protocol.
const (
	HeaderService  = "Micro-Service"
	HeaderEndpoint = "Micro-Endpoint"
	HeaderMethod   = "Micro-Method"
	HeaderID       = "Micro-Id"
	HeaderError    = "Micro-Error"
	HeaderTimeout  = "Timeout"
)

// DefaultConnectTimeout bounds the TCP (and TLS) connection when
// Options.ConnectTimeout is zero.
const DefaultConnectTimeout = 10 * time.Second

// maxResponse bounds the body of one response.
const maxResponse = 64 << 20

var _ transport.Transport = (*Transport)(nil)

// Options configure the transport. The zero value connects in plain HTTP.
type Options struct {
	// TLS, when set, connects with TLS (go-micro's Secure option). The
	// transport speaks HTTP/1.1 over it, as go-micro does.
	TLS *tls.Config
	// ConnectTimeout bounds each new connection; zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// Transport is go-micro's HTTP transport with its mucp protocol, for
// unary calls: each request is a POST to the node's address. It has no
// streams (see ErrStreamsUnsupported).
type Transport struct {
	opts   Options
	prefix string // of request ids
	seq    atomic.Uint64
}

// New returns the transport.
func New(opts Options) *Transport {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	var random [6]byte
	_, _ = rand.Read(random[:])
	return &Transport{opts: opts, prefix: hex.EncodeToString(random[:])}
}

// Name implements transport.Transport: "http".
func (t *Transport) Name() string { return transport.NameHTTP }

// Dial implements transport.Transport. It connects nothing yet: the
// connection is made by the first call, and kept for the next ones.
func (t *Transport) Dial(ctx context.Context, address string) (transport.Conn, error) {
	if _, _, err := net.SplitHostPort(address); err != nil {
		return nil, &transport.ConnectError{Transport: transport.NameHTTP, Address: address, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, &transport.ConnectError{Transport: transport.NameHTTP, Address: address, Err: err}
	}
	scheme := "http"
	if t.opts.TLS != nil {
		scheme = "https"
	}
	c := &conn{t: t, address: address, url: scheme + "://" + address + "/"}
	dialer := &net.Dialer{Timeout: t.opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	rt := &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err: err}
			}
			return nc, nil
		},
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	if t.opts.TLS != nil {
		config := t.opts.TLS.Clone()
		config.NextProtos = []string{"http/1.1"}
		rt.TLSClientConfig = config
		rt.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err: err}
			}
			cfg := config.Clone()
			if cfg.ServerName == "" {
				host, _, _ := net.SplitHostPort(addr)
				cfg.ServerName = host
			}
			tc := tls.Client(nc, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = nc.Close()
				return nil, &dialError{err: err}
			}
			return tc, nil
		}
	}
	c.client = &nethttp.Client{Transport: rt}
	return c, nil
}

// dialError marks an error of the connection itself: the request was not
// sent.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

type conn struct {
	t       *Transport
	address string
	url     string
	client  *nethttp.Client
}

func (c *conn) Address() string { return c.address }

func (c *conn) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// NewStream implements transport.Conn: go-micro's HTTP transport has no
// streams micro can speak.
func (c *conn) NewStream(_ context.Context, _ transport.StreamDesc, req *transport.Request) (transport.Stream, error) {
	return nil, fmt.Errorf("open stream %s of %s at %s: the node speaks go-micro's mucp over http: %w; call its unary endpoints, or serve the method over grpc",
		req.Endpoint, req.Service, c.address, transport.ErrStreamsUnsupported)
}

// Call implements transport.Conn.
func (c *conn) Call(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	contentType := req.ContentType
	if contentType == "" {
		contentType = codec.ContentTypeJSON
	}
	mediaType := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	seq := c.t.seq.Add(1)
	body := req.Body
	var err error
	switch mediaType {
	case codec.ContentTypeJSONRPC:
		body, err = codec.EncodeJSONRPCRequest(codec.Envelope{Method: req.Endpoint, ID: strconv.FormatUint(seq, 10), Body: req.Body})
	case codec.ContentTypeProtoRPC:
		body, err = codec.EncodeProtoRPCRequest(codec.Envelope{Method: req.Endpoint, ID: strconv.FormatUint(seq, 10), Body: req.Body})
	}
	if err != nil {
		return nil, fmt.Errorf("call %s of %s at %s: %w", req.Endpoint, req.Service, c.address, err)
	}
	httpReq, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &transport.ConnectError{Transport: transport.NameHTTP, Address: c.address, Err: err}
	}
	for key, values := range req.Metadata {
		for _, v := range values {
			httpReq.Header.Add(key, v)
		}
	}
	h := httpReq.Header
	h.Set("Content-Type", contentType)
	h.Set("Accept", contentType)
	h.Set(HeaderService, req.Service)
	h.Set(HeaderEndpoint, req.Endpoint)
	h.Set(HeaderMethod, req.Endpoint)
	h.Set(HeaderID, fmt.Sprintf("%s-%d", c.t.prefix, seq))
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left > 0 {
			h.Set(HeaderTimeout, strconv.FormatInt(int64(left), 10))
		}
	}
	resp, err := c.client.Do(httpReq)
	if err != nil {
		var de *dialError
		if errors.As(err, &de) {
			return nil, &transport.ConnectError{Transport: transport.NameHTTP, Address: c.address, Err: de.err}
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("call %s of %s at %s: %w", req.Endpoint, req.Service, c.address, ctxErr)
		}
		return nil, &transport.Error{
			Transport: transport.NameHTTP, Address: c.address, Method: req.Endpoint,
			Code: codes.Unavailable, Detail: "the request may have reached the node: " + transport.ShortCause(err),
		}
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err == nil && len(data) > maxResponse {
		err = fmt.Errorf("the response is larger than %d bytes", maxResponse)
	}
	if err != nil {
		return nil, &transport.Error{
			Transport: transport.NameHTTP, Address: c.address, Method: req.Endpoint,
			Code: codes.Unavailable, Detail: "read response: " + transport.ShortCause(err),
		}
	}
	out := &transport.Response{ContentType: resp.Header.Get("Content-Type"), Header: transport.Metadata(resp.Header)}
	if out.ContentType == "" {
		out.ContentType = contentType
	}
	if micro := resp.Header.Get(HeaderError); micro != "" {
		return nil, c.remoteError(req, micro, resp.StatusCode)
	}
	if resp.StatusCode != nethttp.StatusOK {
		text := strings.TrimSpace(string(data))
		if text == "" {
			text = resp.Status
		}
		return nil, c.remoteError(req, text, resp.StatusCode)
	}
	switch mediaType {
	case codec.ContentTypeJSONRPC:
		env, err := codec.DecodeJSONRPCResponse(data)
		if err != nil {
			return nil, c.badResponse(req, err)
		}
		if env.Error != "" {
			return nil, c.remoteError(req, env.Error, resp.StatusCode)
		}
		out.Body = env.Body
	case codec.ContentTypeProtoRPC:
		env, err := codec.DecodeProtoRPCResponse(data)
		if err != nil {
			return nil, c.badResponse(req, err)
		}
		if env.Error != "" {
			return nil, c.remoteError(req, env.Error, resp.StatusCode)
		}
		out.Body = env.Body
	default:
		out.Body = data
	}
	return out, nil
}

func (c *conn) badResponse(req *transport.Request, err error) error {
	return &transport.Error{
		Transport: transport.NameHTTP, Address: c.address, Method: req.Endpoint,
		Code: codes.Internal, Detail: "bad response: " + err.Error(),
	}
}

// microError is go-micro's error, as its servers send it.
type microError struct {
	ID     string `json:"id"`
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

// remoteError turns the error a server sent (go-micro's JSON error, or
// plain text) into a *transport.Error with the nearest gRPC code.
func (c *conn) remoteError(req *transport.Request, text string, httpStatus int) *transport.Error {
	e := &transport.Error{Transport: transport.NameHTTP, Address: c.address, Method: req.Endpoint}
	e.Code, e.Detail, e.ID, e.MicroCode, e.MicroStatus = ParseError(text, httpStatus)
	return e
}

// ParseError reads the error a mucp server sent: go-micro's JSON error
// ({"id","code","detail","status"}) or plain text. The code is the nearest
// gRPC code to go-micro's HTTP-style code (transport.CodeFromHTTP); plain
// text from go-micro's router ("rpc: can't find service ...", "... method
// ...") is Unimplemented; other plain text takes the HTTP status when it is
// not 200, or Unknown.
func ParseError(text string, httpStatus int) (code codes.Code, detail, id string, microCode int32, microStatus string) {
	var me microError
	if err := json.Unmarshal([]byte(text), &me); err == nil && (me.Code != 0 || me.Detail != "" || me.ID != "") {
		code = transport.CodeFromHTTP(me.Code)
		if me.Code == 0 {
			code = plainCode(me.Detail, httpStatus)
		}
		return code, me.Detail, me.ID, me.Code, me.Status
	}
	return plainCode(text, httpStatus), text, "", 0, ""
}

func plainCode(text string, httpStatus int) codes.Code {
	switch {
	case strings.Contains(text, "can't find service"), strings.Contains(text, "can't find method"),
		strings.Contains(text, "unknown service"), strings.Contains(text, "unknown method"):
		return codes.Unimplemented
	case strings.Contains(text, "request ill-formed"):
		return codes.InvalidArgument
	case httpStatus != 0 && httpStatus != nethttp.StatusOK:
		return transport.CodeFromHTTP(int32(httpStatus))
	}
	return codes.Unknown
}
