// Package mucp is a test fixture that stands in for a default go-micro
// service: go-micro itself cannot be had from the module proxy, so the
// tests talk to this instead. It is written from the protocol, not from
// go-micro's code, and does what such a service does on the wire:
//
//   - serves mucp over HTTP (go-micro's "http" transport): a POST whose
//     Micro-Service and Micro-Endpoint headers name the call, whose
//     Content-Type names the codec (application/json, application/protobuf,
//     or the application/json-rpc and application/proto-rpc envelopes), and
//     answers 200 with the body in the same codec, or with go-micro's JSON
//     error ({"id","code","detail","status"}) in the Micro-Error header;
//   - registers itself in Consul with go-micro's tag encoding (RegisterConsul);
//   - answers go-micro's NATS registry queries on micro.nats.query and
//     announces itself on micro.nats.watch (ServeNATSRegistry).
//
// Its service is greeter-like: Greeter.Hello ({"name"} → {"message": "Hello
// <name>"}, 400 for an empty name), Greeter.Fail (answers the error its
// request describes) and Greeter.Node (says which node answered). The
// manual check against real go-micro services is in the closing notes of
// issue 10; this fixture is what `make test` can run.
package mucp

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/codec"
	"github.com/microtools/micro/pkg/registry"
	"google.golang.org/protobuf/proto"
)

// Node metadata a default go-micro service registers.
func nodeMetadata() map[string]string {
	return map[string]string{
		"protocol":  "mucp",
		"server":    "mucp",
		"transport": "http",
		"broker":    "http",
		"registry":  "consul",
	}
}

// Server is the fixture's HTTP handler and what it registers.
type Server struct {
	Name    string // service name, "greeter" by default
	Version string
	NodeID  string

	listener net.Listener
	http     *http.Server
	calls    atomic.Int64

	mu       sync.Mutex
	lastMeta http.Header
}

// Listen starts serving on address ("127.0.0.1:0" for a free port).
func Listen(name, version, nodeID, address string) (*Server, error) {
	if name == "" {
		name = "greeter"
	}
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("mucp fixture: listen on %s: %w", address, err)
	}
	s := &Server{Name: name, Version: version, NodeID: nodeID, listener: l}
	if s.NodeID == "" {
		s.NodeID = name + "-" + strings.ReplaceAll(l.Addr().String(), ":", "-")
	}
	s.http = &http.Server{Handler: s}
	go func() { _ = s.http.Serve(l) }()
	return s, nil
}

// Addr is the host:port served.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Close stops serving.
func (s *Server) Close() error { return s.http.Close() }

// Calls is how many requests were answered.
func (s *Server) Calls() int64 { return s.calls.Load() }

// LastHeaders returns the headers of the last request.
func (s *Server) LastHeaders() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastMeta.Clone()
}

// Record is the registry record of this node, as go-micro builds it.
func (s *Server) Record() *registry.Service {
	str := func(name string) *registry.Value { return &registry.Value{Name: name, Type: "string"} }
	return &registry.Service{
		Name:    s.Name,
		Version: s.Version,
		Endpoints: []*registry.Endpoint{
			{
				Name:     "Greeter.Hello",
				Request:  &registry.Value{Name: "Request", Type: "Request", Values: []*registry.Value{str("name")}},
				Response: &registry.Value{Name: "Response", Type: "Response", Values: []*registry.Value{str("message")}},
				Metadata: map[string]string{},
			},
			{
				Name: "Greeter.Fail",
				Request: &registry.Value{Name: "FailRequest", Type: "FailRequest", Values: []*registry.Value{
					{Name: "code", Type: "int32"}, str("detail"),
				}},
				Response: &registry.Value{Name: "Response", Type: "Response", Values: []*registry.Value{str("message")}},
				Metadata: map[string]string{},
			},
			{
				Name:     "Greeter.Node",
				Request:  &registry.Value{Name: "NodeRequest", Type: "NodeRequest"},
				Response: &registry.Value{Name: "NodeResponse", Type: "NodeResponse", Values: []*registry.Value{str("node")}},
				Metadata: map[string]string{},
			},
		},
		Nodes: []*registry.Node{{ID: s.NodeID, Address: s.Addr(), Metadata: nodeMetadata()}},
	}
}

// microError is go-micro's error.
type microError struct {
	ID     string `json:"id"`
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

func newError(id string, code int32, detail string) string {
	data, _ := json.Marshal(microError{ID: id, Code: code, Detail: detail, Status: http.StatusText(int(code))})
	return string(data)
}

// ServeHTTP answers one mucp request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	s.lastMeta = r.Header.Clone()
	s.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		contentType = codec.ContentTypeProto // go-micro's server default
	}
	mediaType := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	endpoint := r.Header.Get("Micro-Endpoint")
	if endpoint == "" {
		endpoint = r.Header.Get("Micro-Method")
	}
	w.Header().Set("Micro-Id", r.Header.Get("Micro-Id"))
	w.Header().Set("Micro-Service", r.Header.Get("Micro-Service"))
	w.Header().Set("Micro-Endpoint", endpoint)

	var envelope codec.Envelope
	switch mediaType {
	case codec.ContentTypeJSONRPC:
		envelope, err = codec.DecodeJSONRPCRequest(body)
		body = envelope.Body
	case codec.ContentTypeProtoRPC:
		envelope, err = codec.DecodeProtoRPCRequest(body)
		body = envelope.Body
	case codec.ContentTypeJSON, codec.ContentTypeProto:
	default:
		// go-micro answers an unknown codec with plain text.
		w.Header().Set("Content-Type", "text/plain")
		_, _ = fmt.Fprintf(w, "Unsupported Content-Type: %s", contentType)
		return
	}
	if err != nil {
		s.fail(w, mediaType, envelope, "rpc: router cannot decode request: "+err.Error())
		return
	}
	if envelope.Method != "" && endpoint == "" {
		endpoint = envelope.Method
	}
	protoBody := mediaType == codec.ContentTypeProto || mediaType == codec.ContentTypeProtoRPC
	result, errText := s.handle(endpoint, body, protoBody, r.Header)
	if errText != "" {
		s.fail(w, mediaType, envelope, errText)
		return
	}
	switch mediaType {
	case codec.ContentTypeJSONRPC:
		result, _ = codec.EncodeJSONRPCResponse(codec.Envelope{ID: envelope.ID, Body: result})
	case codec.ContentTypeProtoRPC:
		result, _ = codec.EncodeProtoRPCResponse(codec.Envelope{Method: endpoint, ID: envelope.ID, Body: result})
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(result)
}

// fail answers an error as go-micro does: 200, the error in Micro-Error
// (and in the envelope, for the rpc codecs).
func (s *Server) fail(w http.ResponseWriter, mediaType string, envelope codec.Envelope, errText string) {
	w.Header().Set("Micro-Error", errText)
	switch mediaType {
	case codec.ContentTypeJSONRPC:
		data, _ := codec.EncodeJSONRPCResponse(codec.Envelope{ID: envelope.ID, Error: errText})
		_, _ = w.Write(data)
	case codec.ContentTypeProtoRPC:
		data, _ := codec.EncodeProtoRPCResponse(codec.Envelope{ID: envelope.ID, Error: errText})
		_, _ = w.Write(data)
	}
}

type helloRequest struct {
	Name string `json:"name"`
}

type failRequest struct {
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
}

// handle runs one endpoint; errText is the error to send back.
func (s *Server) handle(endpoint string, body []byte, protoBody bool, header http.Header) (result []byte, errText string) {
	service, method, ok := strings.Cut(endpoint, ".")
	if !ok || strings.Contains(method, ".") {
		return nil, "rpc: service/endpoint request ill-formed: " + endpoint
	}
	if service != "Greeter" {
		return nil, "rpc: can't find service " + service
	}
	switch method {
	case "Hello":
		var name string
		if protoBody {
			var req greeterpb.HelloRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				return nil, "rpc: router cannot decode request: " + err.Error()
			}
			name = req.GetName()
		} else if len(body) > 0 {
			var req helloRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return nil, "rpc: router cannot decode request: " + err.Error()
			}
			name = req.Name
		}
		if name == "" {
			return nil, newError(s.Name, 400, "name must not be empty")
		}
		greeting := "Hello"
		if g := header.Get("X-Greeting"); g != "" {
			greeting = g
		}
		message := greeting + " " + name
		if protoBody {
			data, _ := proto.Marshal(&greeterpb.HelloResponse{Message: message})
			return data, ""
		}
		data, _ := json.Marshal(map[string]string{"message": message})
		return data, ""
	case "Fail":
		var req failRequest
		if !protoBody && len(body) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				return nil, "rpc: router cannot decode request: " + err.Error()
			}
		}
		if req.Code == 0 {
			req.Code = 500
		}
		return nil, newError(s.Name, req.Code, req.Detail)
	case "Node":
		data, _ := json.Marshal(map[string]string{"node": s.NodeID})
		return data, ""
	}
	return nil, "rpc: can't find method " + method
}
