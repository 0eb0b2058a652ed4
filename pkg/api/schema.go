package api

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/registry"
)

// schemas builds JSON Schemas (draft 2020-12, as OpenAPI 3.1 uses) of
// messages in their protobuf JSON mapping. Each message is defined once in
// defs and referred to by refPrefix + full name, so recursive messages are
// fine.
type schemas struct {
	refPrefix string
	defs      map[string]any
}

func newSchemas(refPrefix string) *schemas {
	return &schemas{refPrefix: refPrefix, defs: map[string]any{}}
}

// ref returns a reference to md, defining it (and what it uses) first.
func (s *schemas) ref(md protoreflect.MessageDescriptor) map[string]any {
	if wk := wellKnown(md); wk != nil {
		return wk
	}
	name := string(md.FullName())
	if _, ok := s.defs[name]; !ok {
		s.defs[name] = nil // taken, for recursion
		s.defs[name] = s.message(md)
	}
	return map[string]any{"$ref": s.refPrefix + name}
}

func (s *schemas) message(md protoreflect.MessageDescriptor) map[string]any {
	props := map[string]any{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		fs := s.field(fd)
		if c := comment(fd); c != "" {
			fs["description"] = c
		}
		props[fd.JSONName()] = fs
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if c := comment(md); c != "" {
		out["description"] = c
	}
	return out
}

func (s *schemas) field(fd protoreflect.FieldDescriptor) map[string]any {
	if fd.IsMap() {
		return map[string]any{"type": "object", "additionalProperties": s.single(fd.MapValue())}
	}
	if fd.IsList() {
		return map[string]any{"type": "array", "items": s.single(fd)}
	}
	return s.single(fd)
}

func (s *schemas) single(fd protoreflect.FieldDescriptor) map[string]any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return map[string]any{"type": "boolean"}
	case protoreflect.StringKind:
		return map[string]any{"type": "string"}
	case protoreflect.BytesKind:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return map[string]any{"type": "integer", "format": "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return map[string]any{"type": "integer", "format": "int32", "minimum": 0}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return map[string]any{"type": []string{"integer", "string"}, "format": "int64"}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return map[string]any{"type": []string{"integer", "string"}, "format": "int64"}
	case protoreflect.FloatKind:
		return map[string]any{"type": "number", "format": "float"}
	case protoreflect.DoubleKind:
		return map[string]any{"type": "number", "format": "double"}
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return map[string]any{"type": "null"}
		}
		var names []any
		for i := 0; i < ed.Values().Len(); i++ {
			names = append(names, string(ed.Values().Get(i).Name()))
		}
		return map[string]any{"type": "string", "enum": names, "title": string(ed.FullName())}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return s.ref(fd.Message())
	}
	return map[string]any{}
}

// wellKnown is the schema of a well-known type's special JSON form, or nil.
func wellKnown(md protoreflect.MessageDescriptor) map[string]any {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return map[string]any{"type": "string", "format": "date-time"}
	case "google.protobuf.Duration":
		return map[string]any{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]+)?s$`}
	case "google.protobuf.FieldMask":
		return map[string]any{"type": "string"}
	case "google.protobuf.Struct":
		return map[string]any{"type": "object"}
	case "google.protobuf.Value":
		return map[string]any{}
	case "google.protobuf.ListValue":
		return map[string]any{"type": "array"}
	case "google.protobuf.Empty":
		return map[string]any{"type": "object", "additionalProperties": false}
	case "google.protobuf.Any":
		return map[string]any{"type": "object", "properties": map[string]any{"@type": map[string]any{"type": "string"}}, "required": []string{"@type"}}
	case "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return map[string]any{"type": "string"}
	case "google.protobuf.BoolValue":
		return map[string]any{"type": "boolean"}
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return map[string]any{"type": "integer"}
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return map[string]any{"type": []string{"integer", "string"}}
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return map[string]any{"type": "number"}
	}
	return nil
}

// comment is the leading comment of d in its source, when the descriptors
// kept it.
func comment(d protoreflect.Descriptor) string {
	file := d.ParentFile()
	if file == nil {
		return ""
	}
	loc := file.SourceLocations().ByDescriptor(d)
	return strings.TrimSpace(loc.LeadingComments)
}

// valueSchema is the schema of a registry endpoint's request or response
// record (go-micro's Value tree), for services without descriptors.
func valueSchema(v *registry.Value) map[string]any {
	if v == nil {
		return map[string]any{"type": "object"}
	}
	typ := strings.TrimPrefix(v.Type, "*")
	if strings.HasPrefix(typ, "[]") {
		inner := *v
		inner.Type = typ[2:]
		return map[string]any{"type": "array", "items": valueSchema(&inner)}
	}
	if len(v.Values) > 0 {
		props := map[string]any{}
		for _, f := range v.Values {
			props[f.Name] = valueSchema(f)
		}
		return map[string]any{"type": "object", "properties": props, "title": typ}
	}
	switch typ {
	case "string":
		return map[string]any{"type": "string"}
	case "bool":
		return map[string]any{"type": "boolean"}
	case "int", "int32", "int64", "uint", "uint32", "uint64", "int8", "int16", "uint8", "uint16":
		return map[string]any{"type": "integer"}
	case "float32", "float64", "float", "double":
		return map[string]any{"type": "number"}
	case "[]byte", "bytes":
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	}
	return map[string]any{"type": "object", "title": typ}
}
