package api

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
)

// ConsoleService is the body of GET /ui/api/describe/{service}: the
// endpoints of a service and every message and enum they use, in a form a
// request form can be built from (field kinds, oneofs, maps, well-known
// types, comments), which a JSON Schema does not say.
type ConsoleService struct {
	ServiceSummary
	// Source is "descriptors" or "registry" (no descriptors: the
	// endpoints and their JSON schemas from the registry records).
	Source    string                    `json:"source"`
	Endpoints []ConsoleEndpoint         `json:"endpoints"`
	Messages  map[string]ConsoleMessage `json:"messages"`
	Enums     map[string]ConsoleEnum    `json:"enums"`
	// Registry is the registry the records come from.
	Registry string `json:"registry"`
}

// ConsoleEndpoint is one endpoint of a ConsoleService.
type ConsoleEndpoint struct {
	EndpointDoc
	// RequestType and ResponseType are message full names, keys of
	// ConsoleService.Messages ("" without descriptors).
	RequestType  string `json:"requestType,omitempty"`
	ResponseType string `json:"responseType,omitempty"`
	// Service is the gRPC service's full name ("greeter.v1.Greeter").
	Service string `json:"service,omitempty"`
}

// ConsoleMessage is a message type.
type ConsoleMessage struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Fields      []ConsoleField `json:"fields"`
	// Oneofs are the real oneofs (not proto3 optional) with their fields'
	// JSON names.
	Oneofs []ConsoleOneof `json:"oneofs,omitempty"`
	// WellKnown is set for google.protobuf types that JSON writes in a
	// form of their own (Timestamp, Duration, wrappers, Struct...).
	WellKnown bool `json:"wellKnown,omitempty"`
}

// ConsoleOneof is a oneof of a message.
type ConsoleOneof struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

// ConsoleField is a field of a message.
type ConsoleField struct {
	Name     string `json:"name"`
	JSONName string `json:"jsonName"`
	Number   int    `json:"number"`
	// Kind is the protobuf kind: string, int64, bool, enum, message, ...
	Kind string `json:"kind"`
	// Type is the message or enum full name for kinds message and enum.
	Type     string `json:"type,omitempty"`
	Repeated bool   `json:"repeated,omitempty"`
	// Map fields have a key kind and a value (Kind and Type describe the
	// value).
	Map         bool   `json:"map,omitempty"`
	MapKey      string `json:"mapKey,omitempty"`
	Oneof       string `json:"oneof,omitempty"`
	Optional    bool   `json:"optional,omitempty"`
	Description string `json:"description,omitempty"`
}

// ConsoleEnum is an enum type.
type ConsoleEnum struct {
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	Values      []ConsoleEnumValue `json:"values"`
}

// ConsoleEnumValue is a value of an enum.
type ConsoleEnumValue struct {
	Name        string `json:"name"`
	Number      int    `json:"number"`
	Description string `json:"description,omitempty"`
}

func (c *console) serveDescribe(w http.ResponseWriter, r *http.Request, service string) {
	records, err := c.g.services.records(r.Context(), service)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	s := newSchemas("#/$defs/")
	docs, source := c.g.describeEndpoints(r.Context(), service, records, s)
	out := ConsoleService{
		ServiceSummary: indexOf(records).Services[0],
		Source:         source,
		Endpoints:      []ConsoleEndpoint{},
		Messages:       map[string]ConsoleMessage{},
		Enums:          map[string]ConsoleEnum{},
		Registry:       stringOf(c.g.opts.Registry),
	}
	byMethod := map[string]protoreflect.MethodDescriptor{}
	if source == "descriptors" {
		if sds, err := c.g.services.describe(r.Context(), service); err == nil {
			for _, sd := range sds {
				for i := 0; i < sd.Methods().Len(); i++ {
					md := sd.Methods().Get(i)
					byMethod["/"+string(sd.FullName())+"/"+string(md.Name())] = md
				}
			}
		}
	}
	for _, doc := range docs {
		ep := ConsoleEndpoint{EndpointDoc: doc}
		if md := byMethod[doc.Method]; md != nil {
			ep.RequestType = string(md.Input().FullName())
			ep.ResponseType = string(md.Output().FullName())
			ep.Service = string(md.Parent().FullName())
			addMessage(out.Messages, out.Enums, md.Input())
			addMessage(out.Messages, out.Enums, md.Output())
			// The JSON schemas are left out: Messages says more.
			ep.Request, ep.Response = nil, nil
		}
		out.Endpoints = append(out.Endpoints, ep)
	}
	writeJSON(w, http.StatusOK, out)
}

// addMessage adds md and every message and enum its fields use.
func addMessage(messages map[string]ConsoleMessage, enums map[string]ConsoleEnum, md protoreflect.MessageDescriptor) {
	name := string(md.FullName())
	if _, ok := messages[name]; ok {
		return
	}
	if wellKnown(md) != nil {
		messages[name] = ConsoleMessage{Name: name, WellKnown: true, Fields: []ConsoleField{}, Description: comment(md)}
		return
	}
	messages[name] = ConsoleMessage{} // taken, for recursion
	msg := ConsoleMessage{Name: name, Description: comment(md), Fields: []ConsoleField{}}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		f := ConsoleField{
			Name: string(fd.Name()), JSONName: fd.JSONName(), Number: int(fd.Number()),
			Repeated: fd.IsList(), Description: comment(fd), Optional: fd.HasOptionalKeyword(),
		}
		value := fd
		if fd.IsMap() {
			f.Map, f.MapKey, value = true, fd.MapKey().Kind().String(), fd.MapValue()
		}
		f.Kind = value.Kind().String()
		switch value.Kind() {
		case protoreflect.MessageKind, protoreflect.GroupKind:
			f.Kind = "message"
			f.Type = string(value.Message().FullName())
			addMessage(messages, enums, value.Message())
		case protoreflect.EnumKind:
			f.Type = string(value.Enum().FullName())
			addEnum(enums, value.Enum())
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			f.Oneof = string(od.Name())
		}
		msg.Fields = append(msg.Fields, f)
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		o := ConsoleOneof{Name: string(od.Name())}
		for j := 0; j < od.Fields().Len(); j++ {
			o.Fields = append(o.Fields, od.Fields().Get(j).JSONName())
		}
		msg.Oneofs = append(msg.Oneofs, o)
	}
	messages[name] = msg
}

func addEnum(enums map[string]ConsoleEnum, ed protoreflect.EnumDescriptor) {
	name := string(ed.FullName())
	if _, ok := enums[name]; ok {
		return
	}
	e := ConsoleEnum{Name: name, Description: comment(ed), Values: []ConsoleEnumValue{}}
	for i := 0; i < ed.Values().Len(); i++ {
		v := ed.Values().Get(i)
		e.Values = append(e.Values, ConsoleEnumValue{Name: string(v.Name()), Number: int(v.Number()), Description: comment(v)})
	}
	enums[name] = e
}

func encodeBase64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// sortBy sorts s by the key of each element.
func sortBy[T any](s []T, key func(T) string) {
	sort.SliceStable(s, func(i, j int) bool { return key(s[i]) < key(s[j]) })
}

// serveProtoset answers the descriptors of service as a FileDescriptorSet
// (binary protobuf), for `buf curl --schema` and `grpcurl -protoset`.
func (c *console) serveProtoset(w http.ResponseWriter, r *http.Request, service string) {
	sds, err := c.g.services.describe(r.Context(), service)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	files := make([]protoreflect.FileDescriptor, 0, len(sds))
	for _, sd := range sds {
		files = append(files, sd.ParentFile())
	}
	set := call.DescriptorSetOf(files...)
	data, err := proto.Marshal(set)
	if err != nil {
		c.g.writeError(w, r, errorf(codes.Internal, "protoset of %s: %v", service, err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.NewReplacer(`"`, "", `\`, "", "/", "_").Replace(service)+`.binpb"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}
