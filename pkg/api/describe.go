package api

import (
	"context"
	"google.golang.org/grpc/codes"
	"net/http"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/registry"
)

// ServiceSummary is one service in GET / and the "services" event of
// GET /events: every version's nodes and the endpoint names.
type ServiceSummary struct {
	Name      string        `json:"name"`
	Versions  []string      `json:"versions"`
	Nodes     []NodeSummary `json:"nodes"`
	Endpoints []string      `json:"endpoints"`
	// Healthy counts the nodes whose health is passing or unknown.
	Healthy int `json:"healthy"`
}

// NodeSummary is one node of a service.
type NodeSummary struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Version  string            `json:"version"`
	Health   string            `json:"health,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Index is the body of GET /.
type Index struct {
	Services []ServiceSummary `json:"services"`
	// Links name the gateway's other documents.
	Links map[string]string `json:"links"`
}

func indexOf(list []*registry.Service) Index {
	byName := map[string]*ServiceSummary{}
	var names []string
	for _, svc := range list {
		s := byName[svc.Name]
		if s == nil {
			s = &ServiceSummary{Name: svc.Name, Versions: []string{}, Nodes: []NodeSummary{}, Endpoints: []string{}}
			byName[svc.Name] = s
			names = append(names, svc.Name)
		}
		if !slices.Contains(s.Versions, svc.Version) {
			s.Versions = append(s.Versions, svc.Version)
		}
		for _, n := range svc.Nodes {
			s.Nodes = append(s.Nodes, NodeSummary{ID: n.ID, Address: n.Address, Version: svc.Version, Health: n.Health, Metadata: n.Metadata})
			if n.Health == "" || n.Health == registry.HealthPassing {
				s.Healthy++
			}
		}
		for _, ep := range svc.Endpoints {
			if !slices.Contains(s.Endpoints, ep.Name) {
				s.Endpoints = append(s.Endpoints, ep.Name)
			}
		}
	}
	sort.Strings(names)
	out := Index{Services: []ServiceSummary{}, Links: map[string]string{
		"openapi": "/openapi.json", "events": "/events", "metrics": "/metrics", "health": "/healthz", "service": "/{service}",
	}}
	for _, name := range names {
		s := byName[name]
		sort.Strings(s.Endpoints)
		out.Services = append(out.Services, *s)
	}
	return out
}

// EndpointDoc describes one endpoint in GET /{service}.
type EndpointDoc struct {
	// Name is the go-micro name: "Greeter.Hello".
	Name string `json:"name"`
	// Method is the gRPC method, "/greeter.v1.Greeter/Hello", when known.
	Method string `json:"method,omitempty"`
	// Stream is unary, server, client or bidi.
	Stream string `json:"stream"`
	// Routes are the paths to call it on, by protocol ("json", "connect",
	// "grpc-web"); a client or bidi stream has none.
	Routes      map[string]string `json:"routes"`
	Description string            `json:"description,omitempty"`
	Request     map[string]any    `json:"request"`
	Response    map[string]any    `json:"response"`
}

// ServiceDoc is the body of GET /{service}.
type ServiceDoc struct {
	ServiceSummary
	// Source says where the schemas come from: "descriptors" or
	// "registry" (endpoint records, for services without reflection).
	Source    string         `json:"source"`
	Endpoints []EndpointDoc  `json:"endpoints"`
	Defs      map[string]any `json:"$defs,omitempty"`
}

// describeEndpoints lists the endpoints of service with their schemas, from
// its descriptors, or from its registry records when it has none.
func (g *Gateway) describeEndpoints(ctx context.Context, service string, records []*registry.Service, s *schemas) ([]EndpointDoc, string) {
	var docs []EndpointDoc
	if !allMucp(records) {
		if sds, err := g.services.describe(ctx, service); err == nil && len(sds) > 0 {
			for _, sd := range sds {
				for i := 0; i < sd.Methods().Len(); i++ {
					docs = append(docs, methodDoc(service, sd, sd.Methods().Get(i), s))
				}
			}
			sort.Slice(docs, func(i, j int) bool { return docs[i].Method < docs[j].Method })
			return docs, "descriptors"
		}
	}
	seen := map[string]bool{}
	for _, r := range records {
		for _, ep := range r.Endpoints {
			if seen[ep.Name] {
				continue
			}
			seen[ep.Name] = true
			stream := ep.Metadata[endpointStreamKey]
			if stream == "" {
				stream = "unary"
			}
			doc := EndpointDoc{Name: ep.Name, Stream: stream, Routes: map[string]string{},
				Request: valueSchema(ep.Request), Response: valueSchema(ep.Response)}
			if stream == "unary" || stream == "server" {
				doc.Routes["json"] = "/" + service + "/" + ep.Name
			}
			docs = append(docs, doc)
		}
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Name < docs[j].Name })
	return docs, "registry"
}

func methodDoc(service string, sd protoreflect.ServiceDescriptor, md protoreflect.MethodDescriptor, s *schemas) EndpointDoc {
	name := string(sd.Name()) + "." + string(md.Name())
	stream := "unary"
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		stream = "bidi"
	case md.IsStreamingClient():
		stream = "client"
	case md.IsStreamingServer():
		stream = "server"
	}
	grpcPath := "/" + string(sd.FullName()) + "/" + string(md.Name())
	doc := EndpointDoc{
		Name: name, Method: grpcPath, Stream: stream, Routes: map[string]string{},
		Description: comment(md), Request: s.ref(md.Input()), Response: s.ref(md.Output()),
	}
	if stream == "unary" || stream == "server" {
		doc.Routes["json"] = "/" + service + "/" + name
		doc.Routes["connect"] = grpcPath
		doc.Routes["grpc-web"] = grpcPath
	}
	return doc
}

// serveGet serves the documents: GET /, /openapi.json, /metrics, /events
// and /{service}.
func (g *Gateway) serveGet(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	switch path {
	case "":
		list, err := g.services.listServices(r.Context())
		if err != nil {
			g.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, indexOf(list))
	case "openapi.json":
		doc, err := g.OpenAPI(r.Context())
		if err != nil {
			g.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, doc)
	case "metrics":
		g.metrics.handler.ServeHTTP(w, r)
	case "events":
		g.serveEvents(w, r)
	default:
		if strings.Contains(path, "/") {
			g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: sprintf("GET %s: calls are POST; GET /{service} describes a service", r.URL.Path), HTTPStatus: http.StatusMethodNotAllowed})
			return
		}
		records, err := g.services.records(r.Context(), path)
		if err != nil {
			g.writeError(w, r, err)
			return
		}
		s := newSchemas("#/$defs/")
		docs, source := g.describeEndpoints(r.Context(), path, records, s)
		summary := indexOf(records).Services[0]
		out := ServiceDoc{ServiceSummary: summary, Source: source, Endpoints: docs, Defs: s.defs}
		if out.Endpoints == nil {
			out.Endpoints = []EndpointDoc{}
		}
		writeJSON(w, http.StatusOK, out)
	}
}
