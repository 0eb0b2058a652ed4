package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/codec"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
	"github.com/microtools/micro/pkg/transport"
)

// This file is the call to a node of a default go-micro service: go-micro's
// mucp over the HTTP transport (pkg/transport/http).

// callMucpProto is Call on mucp nodes: one request, encoded as protobuf
// with the descriptors of Options.Source, one response.
func (c *Client) callMucpProto(ctx context.Context, service, endpoint string, supplier call.RequestSupplier, handler call.EventHandler, opts []call.InvokeOption) error {
	src := c.opts.Source
	if src == nil {
		return fmt.Errorf("call %s of %s: %w: its nodes speak go-micro's mucp, which has no reflection: send the JSON as it is (CallJSON), or give descriptors (.proto files or a protoset)", endpoint, service, ErrNoDescriptors)
	}
	method, err := call.FindMethod(ctx, src, service, endpoint)
	if err != nil {
		return err
	}
	if method.IsStreamingClient() || method.IsStreamingServer() {
		return fmt.Errorf("call %s of %s: %w: its nodes speak go-micro's mucp over http; call a unary method, or serve it over grpc", endpoint, service, transport.ErrStreamsUnsupported)
	}
	if supplier == nil {
		supplier = call.Messages()
	}
	input := dynamicpb.NewMessageType(method.Input())
	req, err := supplier(input)
	if errors.Is(err, io.EOF) {
		req, err = input.New().Interface(), nil
	}
	if err != nil {
		return err
	}
	body, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("call %s of %s: encode the request: %w", endpoint, service, err)
	}
	md := headersOf(ctx, opts)
	if handler != nil {
		handler.OnSendHeaders(md)
	}
	resp, _, _, err := c.callMucp(ctx, service, MucpEndpoint(method), codec.ContentTypeProto, body, md)
	if err != nil {
		if handler != nil {
			handler.OnReceiveHeaders(nil)
			handler.OnReceiveTrailers(status.Convert(err), nil)
		}
		return err
	}
	out := dynamicpb.NewMessage(method.Output())
	if err := proto.Unmarshal(resp.Body, out); err != nil {
		return &transport.Error{Transport: transport.NameHTTP, Method: MucpEndpoint(method), Code: codes.Internal, Detail: "decode the response: " + err.Error()}
	}
	if handler != nil {
		handler.OnReceiveHeaders(metadata.MD(resp.Header))
		if err := handler.OnReceiveResponse(out); err != nil {
			return err
		}
		handler.OnReceiveTrailers(status.New(codes.OK, ""), nil)
	}
	return nil
}

// headersOf is the metadata of a call: the context's and WithHeaders'.
func headersOf(ctx context.Context, opts []call.InvokeOption) metadata.MD {
	md, _ := metadata.FromOutgoingContext(ctx)
	return metadata.Join(md, call.HeadersOf(opts...))
}

// MucpEndpoint is the go-micro name of method: "Greeter.Hello" for
// greeter.v1.Greeter/Hello.
func MucpEndpoint(method protoreflect.MethodDescriptor) string {
	return string(method.Parent().Name()) + "." + string(method.Name())
}

// JSONResponse is the answer of CallJSON.
type JSONResponse struct {
	// Body is the response as the node sent it (JSON).
	Body []byte
	// Node is the node that answered.
	Node *registry.Node
	// Header holds the response headers.
	Header transport.Metadata
	// Failed lists the attempts on other nodes that could not be reached
	// before this one answered.
	Failed []error
}

// CallJSON sends body, JSON as it is, to endpoint of service, whose nodes
// speak go-micro's mucp: the way to call go-micro endpoints that have no
// proto. endpoint is go-micro's "Service.Method"; a bare method name is
// looked up among the endpoints of the registry record. Nodes that do not
// say which protocol they speak get the json-rpc envelope, as go-micro's
// client does.
func (c *Client) CallJSON(ctx context.Context, service, endpoint string, body []byte, md metadata.MD) (*JSONResponse, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	resp, node, failed, err := c.callMucp(ctx, service, endpoint, codec.ContentTypeJSON, body, md)
	if err != nil {
		return nil, err
	}
	return &JSONResponse{Body: resp.Body, Node: node, Header: resp.Header, Failed: failed}, nil
}

// callMucp sends one request to a mucp node of service, failing over to
// another node when the chosen one cannot be reached.
func (c *Client) callMucp(ctx context.Context, service, endpoint, contentType string, body []byte, md metadata.MD) (*transport.Response, *registry.Node, []error, error) {
	next, err := c.mucpNodes(ctx, service)
	if err != nil {
		return nil, nil, nil, err
	}
	var failed []error
	for attempt := 0; attempt <= c.retries; attempt++ {
		node, done, err := next()
		if err != nil {
			if attempt == 0 {
				return nil, nil, nil, err
			}
			break
		}
		if KindOf(node) == KindUnsupported {
			md := node.Metadata
			err := fmt.Errorf("call %s of %s at %s: the node says protocol %q, server %q, transport %q, which micro does not speak (it speaks grpc, and go-micro's mucp over http)", endpoint, service, node.Address, md["protocol"], md["server"], md["transport"])
			done(nil)
			return nil, node, failed, err
		}
		ct := contentType
		if node.Metadata["protocol"] == "" {
			// go-micro's client sends the envelopes to such nodes.
			switch ct {
			case codec.ContentTypeJSON:
				ct = codec.ContentTypeJSONRPC
			case codec.ContentTypeProto:
				ct = codec.ContentTypeProtoRPC
			}
		}
		req := &transport.Request{Service: service, Endpoint: endpoint, ContentType: ct, Body: body, Metadata: transport.Metadata(md)}
		resp, err := c.attemptMucp(ctx, node, req)
		done(err)
		if err == nil {
			return resp, node, failed, nil
		}
		var ce *transport.ConnectError
		if ctx.Err() != nil || !errors.As(err, &ce) {
			if len(failed) > 0 {
				return nil, node, failed, &AttemptsError{Service: service, Errors: append(failed, err)}
			}
			return nil, node, nil, err
		}
		failed = append(failed, err)
	}
	if len(failed) == 1 {
		return nil, nil, failed, failed[0]
	}
	return nil, nil, failed, &AttemptsError{Service: service, Errors: failed}
}

// mucpNodes are the candidates of a mucp call.
func (c *Client) mucpNodes(ctx context.Context, service string) (selector.Next, error) {
	if c.opts.Address != "" {
		node := &registry.Node{ID: c.opts.Address, Address: c.opts.Address, Metadata: map[string]string{"protocol": "mucp", "server": "mucp", "transport": "http"}}
		used := false
		var mu sync.Mutex
		return func() (*registry.Node, selector.Done, error) {
			mu.Lock()
			defer mu.Unlock()
			if used {
				return nil, nil, fmt.Errorf("%w: %s is the only address", selector.ErrExhausted, c.opts.Address)
			}
			used = true
			return node, func(error) {}, nil
		}, nil
	}
	return c.selector.Select(ctx, service, c.mucpSelect...)
}

// attemptMucp sends req to node over a pooled connection.
func (c *Client) attemptMucp(ctx context.Context, node *registry.Node, req *transport.Request) (*transport.Response, error) {
	conn, err := c.mucpConn(ctx, node.Address)
	if err != nil {
		return nil, err
	}
	return conn.Call(ctx, req)
}

func (c *Client) mucpConn(ctx context.Context, address string) (transport.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("client: closed")
	}
	if conn := c.mucpConns[address]; conn != nil {
		return conn, nil
	}
	conn, err := c.http.Dial(ctx, address)
	if err != nil {
		return nil, err
	}
	c.mucpConns[address] = conn
	return conn, nil
}

// Endpoints returns the endpoints of service as its registry record
// describes them (go-micro records carry the request and response fields
// of each), from the first record that has any.
func Endpoints(ctx context.Context, reg registry.Registry, service string) ([]*registry.Endpoint, *registry.Service, error) {
	records, err := reg.GetService(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range records {
		if len(rec.Endpoints) > 0 {
			return rec.Endpoints, rec, nil
		}
	}
	if len(records) > 0 {
		return nil, records[0], nil
	}
	return nil, nil, nil
}

// ResolveMucpEndpoint finds endpoint among the endpoints of a record:
// "Greeter.Hello" as it is, "Hello" as the one endpoint with that method,
// "greeter.v1.Greeter.Hello" or "greeter.v1.Greeter/Hello" as
// "Greeter.Hello". With no endpoints known it returns the go-micro form of
// what it was given.
func ResolveMucpEndpoint(endpoints []*registry.Endpoint, endpoint string) (string, error) {
	name := strings.TrimPrefix(strings.ReplaceAll(strings.TrimSpace(endpoint), "/", "."), ".")
	parts := strings.Split(name, ".")
	short := name
	if len(parts) >= 2 {
		short = parts[len(parts)-2] + "." + parts[len(parts)-1]
	}
	if len(endpoints) == 0 {
		return short, nil
	}
	var names, matches []string
	for _, ep := range endpoints {
		if ep == nil {
			continue
		}
		names = append(names, ep.Name)
		switch {
		case ep.Name == name || ep.Name == short:
			return ep.Name, nil
		case len(parts) == 1 && strings.HasSuffix(ep.Name, "."+name):
			matches = append(matches, ep.Name)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("endpoint %q not found: the registry record has %s", endpoint, strings.Join(names, ", "))
	}
	return "", fmt.Errorf("endpoint %q is ambiguous: %s", endpoint, strings.Join(matches, ", "))
}
