package mcp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/microtools/micro/pkg/registry"
)

// catalog is the set of endpoint tools built from one listing of the
// registry.
type catalog struct {
	byName   map[string]*endpointTool
	services []serviceEntry // sorted by name: every registered service seen
}

// serviceEntry is one registered service and what became of its endpoints.
type serviceEntry struct {
	Name      string
	Versions  []string
	Nodes     int
	Allowed   bool
	Endpoints []EndpointInfo
	// Error says why the service could not be described, if it could not.
	Error string
}

// EndpointInfo is one endpoint of a service, as describe_service reports
// it: its tool, or why it has none.
type EndpointInfo struct {
	Endpoint string `json:"endpoint"`
	Kind     string `json:"kind"`
	Request  string `json:"request,omitempty"`
	Response string `json:"response,omitempty"`
	ReadOnly bool   `json:"readOnly"`
	Tool     string `json:"tool,omitempty"`
	// NotServed says why the endpoint has no tool: denied, read-only,
	// its streaming kind.
	NotServed string `json:"notServed,omitempty"`
}

// endpointTool is one endpoint served as a tool.
type endpointTool struct {
	info          ToolInfo
	key           toolKey
	short, long   string
	call          string // Request.Endpoint
	protocol      string // Request.Protocol
	inputWrapped  bool
	outputWrapped bool
	filterNames   []string
	// The schemas as JSON, written once: tools/list then copies bytes.
	input, output json.RawMessage

	// proto is the tool this one was copied from, kept with the
	// description of its record between syncs; it caches the tool's JSON
	// (encoded) for the name it had (encodedName). Only Sync touches them.
	proto       *endpointTool
	encoded     []byte
	encodedName string
}

// encodeSchemas writes the schemas as JSON, once, when the tool is made.
func (t *endpointTool) encodeSchemas() {
	t.input, _ = json.Marshal(t.info.InputSchema)
	if t.info.OutputSchema != nil {
		t.output, _ = json.Marshal(t.info.OutputSchema)
	}
}

// encode is the tool as JSON, to tell whether it changed since the last
// sync; the JSON is made again only when the tool's name changed.
func (t *endpointTool) encode() ([]byte, error) {
	p := t
	if t.proto != nil {
		p = t.proto
	}
	if p.encoded != nil && p.encodedName == t.info.Name {
		return p.encoded, nil
	}
	data, err := json.Marshal(t.sdkTool())
	if err != nil {
		return nil, err
	}
	p.encoded, p.encodedName = data, t.info.Name
	return data, nil
}

// sdkTool is the tool as the SDK serves it.
func (t *endpointTool) sdkTool() *sdk.Tool {
	readOnly := t.info.ReadOnly
	destructive := !readOnly
	openWorld := true
	tool := &sdk.Tool{
		Name:        t.info.Name,
		Description: t.info.Description,
		InputSchema: t.input,
		Annotations: &sdk.ToolAnnotations{
			Title:           t.info.Service + " " + t.info.Endpoint,
			ReadOnlyHint:    readOnly,
			IdempotentHint:  readOnly,
			DestructiveHint: &destructive,
			OpenWorldHint:   &openWorld,
		},
	}
	if t.output != nil {
		tool.OutputSchema = t.output
	}
	return tool
}

// described is the outcome of describing one record, and the tools made
// of it (once: a record whose key did not change keeps them).
type described struct {
	services []protoreflect.ServiceDescriptor
	built    *builtTools
}

type builtTools struct {
	tools []*endpointTool
	infos []EndpointInfo
}

// recordKey identifies what a description holds for: the service, its
// version and its nodes with their metadata (a restarted node, or one with
// another descriptor fingerprint, may serve another API).
func recordKey(svc *registry.Service) string {
	nodes := make([]string, 0, len(svc.Nodes))
	for _, n := range svc.Nodes {
		nodes = append(nodes, nodeSignature(n))
	}
	slices.Sort(nodes)
	return svc.Name + "\x00" + svc.Version + "\x00" + strings.Join(nodes, "\x00")
}

// nodeSignature is a node's ID, address and metadata in one string.
func nodeSignature(n *registry.Node) string {
	var b strings.Builder
	b.WriteString(n.ID)
	b.WriteByte('\x01')
	b.WriteString(n.Address)
	for _, k := range sortedKeys(n.Metadata) {
		b.WriteByte('\x01')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(n.Metadata[k])
	}
	return b.String()
}

// build lists the registry and makes the tools.
func (s *Server) build(ctx context.Context) (*catalog, error) {
	records, err := s.opts.Registry.ListServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("mcp: list services in %s: %w", s.opts.Registry.String(), err)
	}
	byName := map[string][]*registry.Service{}
	for _, r := range records {
		if r != nil && r.Name != "" {
			byName[r.Name] = append(byName[r.Name], r)
		}
	}
	names := sortedKeys(byName)

	// Describe every version of every allowed service, a few at a time.
	type job struct {
		svc  *registry.Service
		desc described
		err  error
	}
	var jobs []*job
	for _, name := range names {
		if !s.filter.AllowsService(name) {
			continue
		}
		versions := byName[name]
		slices.SortFunc(versions, func(a, b *registry.Service) int { return cmp.Compare(b.Version, a.Version) })
		for _, v := range versions {
			jobs = append(jobs, &job{svc: v})
		}
	}
	s.mu.Lock()
	cache := s.described
	s.mu.Unlock()
	fresh := map[string]described{}
	var freshMu sync.Mutex
	sem := make(chan struct{}, describeConcurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		key := recordKey(j.svc)
		if d, ok := cache[key]; ok {
			j.desc = d
			fresh[key] = d
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, s.opts.DescribeTimeout)
			defer cancel()
			services, err := s.opts.Caller.Describe(dctx, j.svc)
			j.desc, j.err = described{services: services}, err
			if err == nil {
				freshMu.Lock()
				fresh[key] = j.desc
				freshMu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mcp: describe services: %w", err)
	}

	cat := &catalog{byName: map[string]*endpointTool{}}
	var candidates []*endpointTool
	jobsByName := map[string][]*job{}
	for _, j := range jobs {
		jobsByName[j.svc.Name] = append(jobsByName[j.svc.Name], j)
	}
	for _, name := range names {
		entry := serviceEntry{Name: name, Allowed: s.filter.AllowsService(name)}
		for _, r := range byName[name] {
			entry.Versions = append(entry.Versions, r.Version)
			entry.Nodes += len(r.Nodes)
		}
		seen := map[string]bool{}
		var errs []string
		for _, j := range jobsByName[name] {
			var tools []*endpointTool
			var infos []EndpointInfo
			switch {
			case j.err == nil:
				if j.desc.built == nil {
					tools, infos = s.fromDescriptors(j.svc, j.desc.services)
					j.desc.built = &builtTools{tools: tools, infos: infos}
					fresh[recordKey(j.svc)] = j.desc
				}
				tools, infos = j.desc.built.tools, j.desc.built.infos
			default:
				if !errors.Is(j.err, ErrNoDescriptors) {
					s.describeLog(j.svc, j.err)
					errs = append(errs, j.err.Error())
				}
				tools, infos = s.fromRecord(j.svc)
			}
			for i, info := range infos {
				if seen[info.Endpoint] {
					continue
				}
				seen[info.Endpoint] = true
				entry.Endpoints = append(entry.Endpoints, info)
				if t := tools[i]; t != nil {
					// A copy, named below; handlers keep the copy they
					// were added with.
					c := *t
					c.proto = t
					candidates = append(candidates, &c)
				}
			}
		}
		if len(entry.Endpoints) == 0 && len(errs) > 0 {
			entry.Error = strings.Join(errs, "; ")
		}
		cat.services = append(cat.services, entry)
	}

	s.mu.Lock()
	s.described = fresh
	s.mu.Unlock()

	reserved := map[string]bool{}
	for _, b := range builtinNames {
		reserved[b] = true
	}
	nameCandidates := make([]nameCandidate, len(candidates))
	for i, t := range candidates {
		nameCandidates[i] = nameCandidate{key: t.key, short: t.short, long: t.long}
	}
	assigned := assignNames(nameCandidates, reserved)
	toolOf := map[toolKey]string{}
	for _, t := range candidates {
		t.info.Name = assigned[t.key]
		cat.byName[t.info.Name] = t
		toolOf[t.key] = t.info.Name
	}
	for i := range cat.services {
		for j := range cat.services[i].Endpoints {
			ep := &cat.services[i].Endpoints[j]
			if ep.NotServed == "" {
				ep.Tool = toolOf[toolKey{service: cat.services[i].Name, endpoint: ep.Endpoint}]
			}
		}
	}
	return cat, nil
}

// fromDescriptors makes the tools of one record's gRPC services. tools[i]
// is the tool of infos[i], or nil when it is not served.
func (s *Server) fromDescriptors(svc *registry.Service, services []protoreflect.ServiceDescriptor) (tools []*endpointTool, infos []EndpointInfo) {
	describe := s.opts.Descriptions == DescriptionsComments
	for _, sd := range services {
		methods := sd.Methods()
		for i := range methods.Len() {
			md := methods.Get(i)
			full := string(md.FullName())
			info := EndpointInfo{
				Endpoint: full,
				Kind:     kindOf(md.IsStreamingClient(), md.IsStreamingServer()),
				Request:  string(md.Input().FullName()),
				Response: string(md.Output().FullName()),
				ReadOnly: readOnlyMethod(md),
			}
			filterNames := []string{string(sd.Name()) + "." + string(md.Name()), full, string(sd.FullName()) + "/" + string(md.Name())}
			info.NotServed = s.notServed(svc.Name, info, filterNames, false)
			infos = append(infos, info)
			if info.NotServed != "" {
				tools = append(tools, nil)
				continue
			}
			t := &endpointTool{
				key:         toolKey{service: svc.Name, endpoint: full},
				short:       sanitizeName(svc.Name + "_" + string(sd.Name()) + "_" + string(md.Name())),
				long:        sanitizeName(svc.Name + "_" + string(sd.FullName()) + "_" + string(md.Name())),
				call:        full,
				protocol:    protocolOf(svc),
				filterNames: filterNames,
				info: ToolInfo{
					Service:  svc.Name,
					Endpoint: full,
					Kind:     info.Kind,
					ReadOnly: info.ReadOnly,
				},
			}
			var methodText string
			if describe {
				methodText = cleanText(comment(md), s.opts.MaxDescriptionLength)
			}
			t.info.Description = joinLines(s.ownLine(svc.Name, full, info), methodText)
			if streamsIn(info.Kind) {
				t.info.InputSchema = requestsSchema(md.Input(), describe, s.opts.MaxDescriptionLength)
			} else {
				t.info.InputSchema, t.inputWrapped = MessageSchema(md.Input(), true, describe, s.opts.MaxDescriptionLength)
			}
			if streamsOut(info.Kind) {
				t.info.OutputSchema = streamSchema(md.Output(), describe, s.opts.MaxDescriptionLength)
			} else {
				t.info.OutputSchema, t.outputWrapped = MessageSchema(md.Output(), false, describe, s.opts.MaxDescriptionLength)
			}
			t.encodeSchemas()
			tools = append(tools, t)
		}
	}
	return tools, infos
}

// fromRecord makes the tools of the endpoints a registry record lists, for
// a service that cannot describe itself.
func (s *Server) fromRecord(svc *registry.Service) (tools []*endpointTool, infos []EndpointInfo) {
	for _, ep := range svc.Endpoints {
		if ep == nil || ep.Name == "" {
			continue
		}
		callName := ep.Name
		full := ep.Name
		if grpcService := ep.Metadata["service"]; grpcService != "" {
			_, method, _ := strings.Cut(ep.Name, ".")
			if method != "" {
				full = grpcService + "." + method
				callName = full
			}
		}
		info := EndpointInfo{
			Endpoint: full,
			Kind:     recordKind(ep.Metadata["stream"]),
			ReadOnly: ep.Metadata["idempotency_level"] == "NO_SIDE_EFFECTS" || ep.Metadata["idempotency_level"] == "IDEMPOTENT",
		}
		if ep.Request != nil {
			info.Request = ep.Request.Name
		}
		if ep.Response != nil {
			info.Response = ep.Response.Name
		}
		filterNames := []string{ep.Name, full}
		info.NotServed = s.notServed(svc.Name, info, filterNames, true)
		infos = append(infos, info)
		if info.NotServed != "" {
			tools = append(tools, nil)
			continue
		}
		short := sanitizeName(svc.Name + "_" + ep.Name)
		t := &endpointTool{
			key:         toolKey{service: svc.Name, endpoint: full},
			short:       short,
			long:        sanitizeName(svc.Name + "_" + full),
			call:        callName,
			protocol:    protocolOf(svc),
			filterNames: filterNames,
			info: ToolInfo{
				Service:    svc.Name,
				Endpoint:   full,
				Kind:       info.Kind,
				ReadOnly:   info.ReadOnly,
				FromRecord: true,
			},
		}
		t.info.Description = s.ownLine(svc.Name, full, info) + " Its schema comes from the field list of its registry record."
		t.info.InputSchema = RecordSchema(ep.Request, true)
		if info.Kind == KindServerStream {
			t.info.OutputSchema = Schema{"type": "object", "properties": Schema{
				"messages": Schema{"type": "array", "items": RecordSchema(ep.Response, false)},
			}}
		} else {
			t.info.OutputSchema = RecordSchema(ep.Response, false)
		}
		t.encodeSchemas()
		tools = append(tools, t)
	}
	return tools, infos
}

// protocolOf is the "protocol" metadata of a record's nodes.
func protocolOf(svc *registry.Service) string {
	for _, n := range svc.Nodes {
		if p := n.Metadata["protocol"]; p != "" {
			return p
		}
	}
	return ""
}

// notServed says why an endpoint gets no tool, or "" when it gets one.
// fromRecord: only unary and server-streaming endpoints of registry records
// are served (what a record says of other streams is not enough to call
// them).
func (s *Server) notServed(service string, info EndpointInfo, filterNames []string, fromRecord bool) string {
	switch {
	case fromRecord && streamsIn(info.Kind):
		return info.Kind + " endpoints known only from a registry record are not served as tools"
	case !s.filter.AllowsEndpoint(service, filterNames...):
		return "not allowed by --allow/--deny"
	case s.opts.ReadOnly && !info.ReadOnly:
		return "read-only mode: not marked idempotent or free of side effects"
	}
	return ""
}

// ownLine is the first line of an endpoint tool's description: the
// server's own words.
func (s *Server) ownLine(service, endpoint string, info EndpointInfo) string {
	line := fmt.Sprintf("Calls %s of the %s service", endpoint, service)
	if info.Request != "" && info.Response != "" {
		line += fmt.Sprintf(" (%s -> %s)", info.Request, info.Response)
	}
	line += "."
	switch info.Kind {
	case KindServerStream:
		line += fmt.Sprintf(" Server-streaming: answers with the messages received, at most %d, within %s.", s.opts.MaxStreamMessages, s.opts.Timeout)
	case KindClientStream:
		line += " Client-streaming: sends the requests given, in order, and answers with the one response."
	case KindBidiStream:
		line += fmt.Sprintf(" Bidirectional streaming: sends the requests given, in order, and answers with the messages received, at most %d, within %s.", s.opts.MaxStreamMessages, s.opts.Timeout)
	}
	if info.ReadOnly {
		line += " Marked free of side effects or idempotent."
	}
	return line
}

// streamSchema is the output of a server-streaming tool: the messages
// gathered and how the gathering ended.
func streamSchema(md protoreflect.MessageDescriptor, describe bool, maxText int) Schema {
	b := &schemaBuilder{defs: map[string]any{}, describe: describe, maxText: maxText}
	items := b.ref(md)
	s := Schema{
		"type": "object",
		"properties": Schema{
			"messages": Schema{"type": "array", "items": items},
			"count":    Schema{"type": "integer"},
			"complete": Schema{"type": "boolean", "description": "true when the stream ended; false when the server stopped gathering"},
			"stopped":  Schema{"type": "string", "description": "why gathering stopped early: max-stream-messages, max-response-bytes or timeout"},
		},
		"required": []string{"messages", "count", "complete"},
	}
	if len(b.defs) > 0 {
		s["$defs"] = b.defs
	}
	return s
}

// streamsIn and streamsOut tell whether an endpoint kind takes a stream of
// requests and answers with a stream of responses.
func streamsIn(kind string) bool  { return kind == KindClientStream || kind == KindBidiStream }
func streamsOut(kind string) bool { return kind == KindServerStream || kind == KindBidiStream }

// requestsField is the one property of a tool that sends a stream of
// requests.
const requestsField = "requests"

// requestsSchema is the input of a client- or bidirectional-streaming tool:
// the requests to send.
func requestsSchema(md protoreflect.MessageDescriptor, describe bool, maxText int) Schema {
	b := &schemaBuilder{defs: map[string]any{}, input: true, describe: describe, maxText: maxText}
	s := Schema{
		"type": "object",
		"properties": Schema{
			requestsField: Schema{"type": "array", "items": b.ref(md), "description": "the requests to send, in order; the stream is closed after the last"},
		},
		"required":             []string{requestsField},
		"additionalProperties": false,
	}
	if len(b.defs) > 0 {
		s["$defs"] = b.defs
	}
	return s
}

func kindOf(client, server bool) string {
	switch {
	case client && server:
		return KindBidiStream
	case client:
		return KindClientStream
	case server:
		return KindServerStream
	}
	return KindUnary
}

// recordKind reads a registry record's stream metadata: pkg/service's
// unary/server/client/bidi, or go-micro's "true" (a stream both ways).
func recordKind(stream string) string {
	switch stream {
	case "", "false", "unary":
		return KindUnary
	case "server":
		return KindServerStream
	case "client":
		return KindClientStream
	}
	return KindBidiStream
}

// readOnlyMethod tells whether a method's options mark it as having no
// side effects or as idempotent.
func readOnlyMethod(md protoreflect.MethodDescriptor) bool {
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok || opts == nil {
		return false
	}
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS, descriptorpb.MethodOptions_IDEMPOTENT:
		return true
	}
	return false
}
