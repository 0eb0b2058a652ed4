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
	httptransport "github.com/microtools/micro/pkg/transport/http"
)

// ErrNoDescriptors is wrapped by Call when the service's nodes speak
// go-micro's mucp and no descriptors were given (Options.GRPC.Source):
// nothing was sent. Call such endpoints with CallJSON, or give .proto
// files or a protoset.
var ErrNoDescriptors = errors.New("no descriptors for a mucp service")

// DefaultRetries is how many other nodes a call tries after the first
// could not be reached, when Options.Retries is zero.
const DefaultRetries = call.DefaultRetries

// Options configure a Client. Registry (or Address) is required.
type Options struct {
	// Registry is where services are found by name.
	Registry registry.Registry
	// Selector picks the nodes; nil: a selector.Cache over Registry with
	// the Random strategy and SelectorOptions, closed by Close.
	Selector        selector.Selector
	SelectorOptions []selector.Option
	// SelectOptions narrow the nodes of every call (version, metadata).
	SelectOptions []selector.SelectOption
	// Address sends every call to this host:port, without a registry.
	// AddressTransport says what it speaks: "grpc" (the default) or
	// "http" (go-micro's mucp).
	Address          string
	AddressTransport string
	// GRPC configures the calls to gRPC nodes: dialling, descriptor
	// sources and their cache. Its Registry, Selector, Address and
	// Retries are set by the Client.
	GRPC call.ClientOptions
	// HTTP configures go-micro's HTTP transport.
	HTTP httptransport.Options
	// Retries is how many other nodes a call tries when the one it chose
	// could not be reached; zero means DefaultRetries, negative none.
	Retries int
}

// Client calls services by name. It picks a node through the selector,
// looks at what the node speaks (its "protocol", "server" and "transport"
// metadata, as go-micro writes them; a node that says nothing speaks
// gRPC) and sends the call over that transport, keeping one connection per
// node. A call fails over to another node only when it cannot have reached
// a server (the connection could not be made).
//
// gRPC calls go through a call.Client that shares the selector, so they
// keep its connection pool, descriptor cache and request replay; mucp
// calls go through the HTTP transport, with the JSON as it is (CallJSON)
// or as protobuf when descriptors are given (Call).
type Client struct {
	opts        Options
	selector    selector.Selector
	ownSelector bool
	retries     int
	grpc        *call.Client
	http        *httptransport.Transport

	mu     sync.Mutex
	closed bool
	conns  map[string]transport.Conn // mucp connections, by address
}

// New returns a Client; it connects to nothing until the first call.
func New(opts Options) (*Client, error) {
	if opts.Registry == nil && opts.Selector == nil && opts.Address == "" {
		return nil, errors.New("client: no registry, selector or address: set Options.Registry")
	}
	c := &Client{opts: opts, retries: opts.Retries, conns: map[string]transport.Conn{}, http: httptransport.New(opts.HTTP)}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	grpcOpts := opts.GRPC
	grpcOpts.Retries = opts.Retries
	if opts.Address != "" {
		grpcOpts.Address = opts.Address
	} else {
		c.selector = opts.Selector
		if c.selector == nil {
			selOpts := append([]selector.Option{selector.Registry(opts.Registry), selector.UseStrategy(selector.Random())}, opts.SelectorOptions...)
			sel, err := selector.New(selOpts...)
			if err != nil {
				return nil, fmt.Errorf("client: %w", err)
			}
			c.selector, c.ownSelector = sel, true
		}
		grpcOpts.Registry = opts.Registry
		grpcOpts.Selector = c.selector
		grpcOpts.SelectOptions = append(append([]selector.SelectOption(nil), opts.SelectOptions...), selector.WithFilter(SpeaksGRPC))
	}
	g, err := call.NewClient(grpcOpts)
	if err != nil {
		if c.ownSelector {
			_ = c.selector.Close()
		}
		return nil, fmt.Errorf("client: %w", err)
	}
	c.grpc = g
	return c, nil
}

// Close closes the connections and, when the Client made it, the selector.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := c.conns
	c.conns = map[string]transport.Conn{}
	c.mu.Unlock()
	errs := []error{c.grpc.Close()}
	for _, conn := range conns {
		errs = append(errs, conn.Close())
	}
	if c.ownSelector {
		errs = append(errs, c.selector.Close())
	}
	return errors.Join(errs...)
}

// GRPC is the client of the gRPC nodes: descriptor sources, resolvers.
func (c *Client) GRPC() *call.Client { return c.grpc }

// Kind says what a node speaks.
type Kind string

// Kinds of nodes.
const (
	// KindGRPC is gRPC over HTTP/2: services built on pkg/service, go-micro
	// services with its gRPC server, nodes that say nothing.
	KindGRPC Kind = "grpc"
	// KindMucp is go-micro's mucp over its HTTP transport: a default
	// go-micro service.
	KindMucp Kind = "mucp"
	// KindUnsupported is a node micro cannot call: mucp over a transport
	// micro does not speak (go-micro's "grpc" or "nats" transports under a
	// mucp server), or another protocol (a kratos HTTP server says
	// protocol "http").
	KindUnsupported Kind = "unsupported"
)

// KindOf says what node speaks, from its "protocol", "server" and
// "transport" metadata as go-micro writes them: grpc/grpc/grpc for its
// gRPC server, mucp/mucp/http for its default one. A node that says
// nothing is gRPC.
func KindOf(node *registry.Node) Kind {
	if node == nil {
		return KindGRPC
	}
	md := node.Metadata
	protocol, server, tr := md["protocol"], md["server"], md["transport"]
	mucp := protocol == "mucp" || server == "mucp"
	switch {
	case mucp && (tr == "" || tr == transport.NameHTTP):
		return KindMucp
	case mucp:
		return KindUnsupported
	case protocol == "" && server == "" && tr == transport.NameHTTP:
		return KindMucp // an older go-micro node: http transport, no protocol
	case protocol != "" && protocol != "grpc":
		return KindUnsupported
	}
	return KindGRPC
}

// SpeaksGRPC keeps the nodes that speak gRPC.
var SpeaksGRPC = selector.FilterFunc("transport grpc", func(c selector.Candidate) bool { return KindOf(c.Node) == KindGRPC })

// speaksOther keeps the nodes that do not speak gRPC.
var speaksOther = selector.FilterFunc("transport mucp", func(c selector.Candidate) bool { return KindOf(c.Node) != KindGRPC })

// Kind says which transport a call to service would use: KindGRPC when
// it has nodes that speak gRPC, else KindMucp when it has nodes that speak
// go-micro's mucp (or, with Address, when AddressTransport is "http"). A
// service with nodes of both kinds is called through its gRPC nodes.
func (c *Client) Kind(ctx context.Context, service string) (Kind, error) {
	if c.opts.Address != "" {
		if c.opts.AddressTransport == transport.NameHTTP || c.opts.AddressTransport == string(KindMucp) {
			return KindMucp, nil
		}
		return KindGRPC, nil
	}
	_, err := c.selector.Select(ctx, service, c.selectOptions(SpeaksGRPC)...)
	if !errors.Is(err, selector.ErrNoMatch) {
		return KindGRPC, err
	}
	if _, err := c.selector.Select(ctx, service, c.selectOptions(speaksOther)...); err != nil {
		return "", err
	}
	return KindMucp, nil
}

func (c *Client) selectOptions(filter selector.Filter) []selector.SelectOption {
	return append(append([]selector.SelectOption(nil), c.opts.SelectOptions...), selector.WithFilter(filter))
}

// Call calls endpoint of service with the requests of supplier, telling
// handler what happens (see call.Client.Call). gRPC nodes are called
// through the gRPC client (a service with nodes of both kinds through its
// gRPC ones); mucp nodes over HTTP with protobuf bodies, which needs
// descriptors (Options.GRPC.Source: .proto files or a protoset) since
// go-micro services have no reflection; they take one request and answer
// one response.
func (c *Client) Call(ctx context.Context, service, endpoint string, supplier call.RequestSupplier, handler call.EventHandler, opts ...call.InvokeOption) error {
	if c.opts.Address == "" || c.opts.AddressTransport != transport.NameHTTP && c.opts.AddressTransport != string(KindMucp) {
		err := c.grpc.Call(ctx, service, endpoint, supplier, handler, opts...)
		if c.opts.Address != "" || !errors.Is(err, selector.ErrNoMatch) {
			return err
		}
		// No node speaks gRPC: the mucp ones, if any.
		if kind, kindErr := c.Kind(ctx, service); kindErr != nil || kind != KindMucp {
			return err
		}
	}
	src := c.opts.GRPC.Source
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
				return nil, node, failed, &call.AttemptsError{Service: service, Errors: append(failed, err)}
			}
			return nil, node, nil, err
		}
		failed = append(failed, err)
	}
	if len(failed) == 1 {
		return nil, nil, failed, failed[0]
	}
	return nil, nil, failed, &call.AttemptsError{Service: service, Errors: failed}
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
	return c.selector.Select(ctx, service, c.selectOptions(speaksOther)...)
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
	if conn := c.conns[address]; conn != nil {
		return conn, nil
	}
	conn, err := c.http.Dial(ctx, address)
	if err != nil {
		return nil, err
	}
	c.conns[address] = conn
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

// Source returns the descriptors of a gRPC service (see call.Client.Source).
func (c *Client) Source(ctx context.Context, service string) (call.DescriptorSource, error) {
	return c.grpc.Source(ctx, service)
}

// Resolver returns the resolver of the descriptors of a gRPC service (see
// call.Client.Resolver).
func (c *Client) Resolver(service string) call.Resolver { return c.grpc.Resolver(service) }
