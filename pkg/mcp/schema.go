package mcp

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/microtools/micro/pkg/registry"
)

// Schema is a JSON Schema (draft 2020-12) as a JSON object.
type Schema = map[string]any

// wrappedField is the one property of the schema of a tool whose message is
// not a JSON object (a google.protobuf.Timestamp request, say): the tool
// takes {"value": ...} and answers {"value": ...}.
const wrappedField = "value"

// fieldBehaviorNumber is the extension google.api.field_behavior of
// google.protobuf.FieldOptions, and fieldBehaviorRequired its REQUIRED
// value. They are read from the options' wire form, so the annotation
// works without its Go package linked in.
const (
	fieldBehaviorNumber   = 1052
	fieldBehaviorRequired = 2
)

// schemaBuilder writes the schemas of messages, each message once in $defs.
type schemaBuilder struct {
	defs map[string]any
	// input: the schema of a request (required fields, no other
	// properties); otherwise of a response.
	input bool
	// describe: field comments become descriptions, cut to maxText.
	describe bool
	maxText  int
}

// MessageSchema returns the JSON Schema of md in the protobuf JSON mapping,
// with the messages it uses in $defs. input says whether it is for a
// request (required fields listed, unknown properties refused) or a
// response; describe puts the fields' proto comments in descriptions, cut
// to maxText characters. wrapped is true when md's JSON form is not an
// object (a well-known type such as Timestamp): the schema is then of an
// object with md's value as its one property, "value".
func MessageSchema(md protoreflect.MessageDescriptor, input, describe bool, maxText int) (schema Schema, wrapped bool) {
	b := &schemaBuilder{defs: map[string]any{}, input: input, describe: describe, maxText: maxText}
	var root Schema
	if wkt := b.wellKnown(md); wkt != nil {
		if wkt["type"] == "object" {
			root = wkt
		} else {
			root = Schema{"type": "object", "properties": Schema{wrappedField: wkt}}
			if input {
				root["required"] = []string{wrappedField}
				root["additionalProperties"] = false
			}
			wrapped = true
		}
	} else {
		root = b.object(md)
	}
	if len(b.defs) > 0 {
		root["$defs"] = b.defs
	}
	return root, wrapped
}

// ref returns the schema of a message field's value: a well-known type's
// JSON form, or a reference to the message in $defs, defined on first use
// (before its fields, so that recursive messages refer to themselves).
func (b *schemaBuilder) ref(md protoreflect.MessageDescriptor) Schema {
	if wkt := b.wellKnown(md); wkt != nil {
		return wkt
	}
	name := string(md.FullName())
	if _, ok := b.defs[name]; !ok {
		b.defs[name] = Schema{} // placeholder while recursing
		b.defs[name] = b.object(md)
	}
	return Schema{"$ref": "#/$defs/" + name}
}

// object is the schema of a message as a JSON object of its fields, named
// by their JSON names.
func (b *schemaBuilder) object(md protoreflect.MessageDescriptor) Schema {
	properties := Schema{}
	var required []string
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		s := b.field(fd)
		if b.describe {
			if text := cleanText(comment(fd), b.maxText); text != "" {
				s = withDescription(s, text)
			}
		}
		properties[fd.JSONName()] = s
		if b.input && isRequired(fd) {
			required = append(required, fd.JSONName())
		}
	}
	s := Schema{"type": "object", "properties": properties}
	if len(required) > 0 {
		s["required"] = required
	}
	if b.input {
		s["additionalProperties"] = false
	}
	var notes []string
	oneofs := md.Oneofs()
	for i := range oneofs.Len() {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		var names []string
		for j := range od.Fields().Len() {
			names = append(names, od.Fields().Get(j).JSONName())
		}
		notes = append(notes, fmt.Sprintf("set at most one of %s (oneof %s)", strings.Join(names, ", "), od.Name()))
		if b.input && len(names) > 1 {
			// At most one of them: no two may be present together.
			var pairs []any
			for x := range names {
				for y := x + 1; y < len(names); y++ {
					pairs = append(pairs, Schema{"required": []string{names[x], names[y]}})
				}
			}
			s["not"] = mergeAnyOf(s["not"], pairs)
		}
	}
	description := string(md.FullName())
	if b.describe {
		if text := cleanText(comment(md), b.maxText); text != "" {
			description += ": " + text
		}
	}
	if len(notes) > 0 {
		description += " (" + strings.Join(notes, "; ") + ")"
	}
	s["description"] = description
	return s
}

// mergeAnyOf adds pairs to a "not": {"anyOf": [...]} schema.
func mergeAnyOf(existing any, pairs []any) Schema {
	if s, ok := existing.(Schema); ok {
		s["anyOf"] = append(s["anyOf"].([]any), pairs...)
		return s
	}
	return Schema{"anyOf": pairs}
}

// withDescription adds a description to s, or, for a $ref (whose siblings
// some validators ignore), wraps it.
func withDescription(s Schema, text string) Schema {
	if _, isRef := s["$ref"]; isRef {
		return Schema{"allOf": []any{s}, "description": text}
	}
	s["description"] = text
	return s
}

// field is the schema of a field's value: a list, a map or one value.
func (b *schemaBuilder) field(fd protoreflect.FieldDescriptor) Schema {
	switch {
	case fd.IsMap():
		s := Schema{"type": "object", "additionalProperties": b.singular(fd.MapValue())}
		if key := mapKeySchema(fd.MapKey()); key != nil {
			s["propertyNames"] = key
		}
		return s
	case fd.IsList():
		return Schema{"type": "array", "items": b.singular(fd)}
	default:
		return b.singular(fd)
	}
}

// mapKeySchema says what the keys of a map may be, as JSON object keys
// (always strings): nil for string keys.
func mapKeySchema(fd protoreflect.FieldDescriptor) Schema {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return Schema{"enum": []any{"true", "false"}}
	case protoreflect.StringKind:
		return nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return Schema{"pattern": "^[0-9]+$"}
	default:
		return Schema{"pattern": "^-?[0-9]+$"}
	}
}

// singular is the schema of one value of a field.
func (b *schemaBuilder) singular(fd protoreflect.FieldDescriptor) Schema {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return Schema{"type": "boolean"}
	case protoreflect.StringKind:
		return Schema{"type": "string"}
	case protoreflect.BytesKind:
		return bytesSchema()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return Schema{"type": "integer", "format": "int32", "minimum": math.MinInt32, "maximum": math.MaxInt32}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return Schema{"type": "integer", "format": "uint32", "minimum": 0, "maximum": math.MaxUint32}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return int64Schema()
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return uint64Schema()
	case protoreflect.FloatKind:
		return floatSchema("float")
	case protoreflect.DoubleKind:
		return floatSchema("double")
	case protoreflect.EnumKind:
		return enumSchema(fd.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return b.ref(fd.Message())
	}
	return Schema{}
}

// 64-bit integers are strings in the protobuf JSON mapping (numbers are
// accepted too).
func int64Schema() Schema {
	return Schema{"type": []any{"string", "integer"}, "format": "int64", "pattern": "^-?[0-9]+$"}
}

func uint64Schema() Schema {
	return Schema{"type": []any{"string", "integer"}, "format": "uint64", "pattern": "^[0-9]+$", "minimum": 0}
}

func bytesSchema() Schema {
	return Schema{"type": "string", "contentEncoding": "base64", "format": "byte"}
}

// Floating-point numbers, or "NaN", "Infinity" and "-Infinity".
func floatSchema(format string) Schema {
	return Schema{"anyOf": []any{
		Schema{"type": "number"},
		Schema{"type": "string", "enum": []any{"NaN", "Infinity", "-Infinity"}},
	}, "format": format}
}

// enumSchema is an enum's value by name (what responses use) or number.
func enumSchema(ed protoreflect.EnumDescriptor) Schema {
	if ed.FullName() == "google.protobuf.NullValue" {
		return Schema{"type": "null"}
	}
	var values []any
	for i := range ed.Values().Len() {
		values = append(values, string(ed.Values().Get(i).Name()))
	}
	for i := range ed.Values().Len() {
		values = append(values, int64(ed.Values().Get(i).Number()))
	}
	return Schema{"type": []any{"string", "integer"}, "enum": values, "description": "enum " + string(ed.FullName())}
}

// wellKnown is the JSON form of a well-known type, or nil for other
// messages.
func (b *schemaBuilder) wellKnown(md protoreflect.MessageDescriptor) Schema {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return Schema{"type": "string", "format": "date-time", "description": "RFC 3339 time, such as 2026-01-02T15:04:05Z"}
	case "google.protobuf.Duration":
		return Schema{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]{1,9})?s$`, "description": "duration in seconds with an s suffix, such as 1.5s"}
	case "google.protobuf.FieldMask":
		return Schema{"type": "string", "description": "field paths in lowerCamelCase, separated by commas, such as name,item.sku"}
	case "google.protobuf.Struct":
		return Schema{"type": "object", "description": "any JSON object"}
	case "google.protobuf.Value":
		return Schema{"description": "any JSON value"}
	case "google.protobuf.ListValue":
		return Schema{"type": "array", "description": "any JSON array"}
	case "google.protobuf.Any":
		return Schema{
			"type":        "object",
			"properties":  Schema{"@type": Schema{"type": "string", "description": "type URL, such as type.googleapis.com/package.Message"}},
			"required":    []string{"@type"},
			"description": "a message of any type: its fields, or \"value\" for a well-known type, beside \"@type\"",
		}
	case "google.protobuf.Empty":
		s := Schema{"type": "object", "properties": Schema{}}
		if b.input {
			s["additionalProperties"] = false
		}
		return s
	case "google.protobuf.DoubleValue":
		return floatSchema("double")
	case "google.protobuf.FloatValue":
		return floatSchema("float")
	case "google.protobuf.Int64Value":
		return int64Schema()
	case "google.protobuf.UInt64Value":
		return uint64Schema()
	case "google.protobuf.Int32Value":
		return Schema{"type": "integer", "format": "int32", "minimum": math.MinInt32, "maximum": math.MaxInt32}
	case "google.protobuf.UInt32Value":
		return Schema{"type": "integer", "format": "uint32", "minimum": 0, "maximum": math.MaxUint32}
	case "google.protobuf.BoolValue":
		return Schema{"type": "boolean"}
	case "google.protobuf.StringValue":
		return Schema{"type": "string"}
	case "google.protobuf.BytesValue":
		return bytesSchema()
	}
	return nil
}

// isRequired tells whether a request must set fd: a proto2 required field,
// or one marked (google.api.field_behavior) = REQUIRED.
func isRequired(fd protoreflect.FieldDescriptor) bool {
	if fd.Cardinality() == protoreflect.Required {
		return true
	}
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil {
		return false
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(opts)
	if err != nil {
		return false
	}
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return false
		}
		raw = raw[n:]
		if num == fieldBehaviorNumber {
			switch typ {
			case protowire.VarintType:
				v, m := protowire.ConsumeVarint(raw)
				if m < 0 {
					return false
				}
				if v == fieldBehaviorRequired {
					return true
				}
				raw = raw[m:]
				continue
			case protowire.BytesType: // packed
				packed, m := protowire.ConsumeBytes(raw)
				if m < 0 {
					return false
				}
				for len(packed) > 0 {
					v, k := protowire.ConsumeVarint(packed)
					if k < 0 {
						break
					}
					if v == fieldBehaviorRequired {
						return true
					}
					packed = packed[k:]
				}
				raw = raw[m:]
				continue
			}
		}
		m := protowire.ConsumeFieldValue(num, typ, raw)
		if m < 0 {
			return false
		}
		raw = raw[m:]
	}
	return false
}

// comment is the leading comment of a descriptor (or its trailing one),
// when its file was compiled with source info.
func comment(d protoreflect.Descriptor) string {
	file := d.ParentFile()
	if file == nil {
		return ""
	}
	loc := file.SourceLocations().ByDescriptor(d)
	text := loc.LeadingComments
	if strings.TrimSpace(text) == "" {
		text = loc.TrailingComments
	}
	return text
}

// RecordSchema returns the JSON Schema of a message known only from a
// registry record's field list (a go-micro mucp endpoint): each field's
// Type, a Go or protobuf type name ("string", "int64", "[]string",
// "map[string]int32", a message name with nested Values), becomes the
// closest JSON type; a type it cannot tell is left open.
func RecordSchema(v *registry.Value, input bool) Schema {
	s := recordObject(v, input, 0)
	if s["type"] != "object" {
		s = Schema{"type": "object"}
	}
	return s
}

func recordObject(v *registry.Value, input bool, depth int) Schema {
	properties := Schema{}
	if v != nil {
		for _, f := range v.Values {
			if f == nil || f.Name == "" {
				continue
			}
			properties[f.Name] = recordType(f, f.Type, input, depth+1)
		}
	}
	s := Schema{"type": "object", "properties": properties}
	if v != nil && v.Name != "" {
		s["description"] = cleanText(v.Name, 200)
	}
	return s
}

// recordType maps a type name of a registry record to a schema. depth
// bounds the nesting of records that describe themselves.
func recordType(v *registry.Value, typ string, input bool, depth int) Schema {
	typ = strings.TrimPrefix(strings.TrimSpace(typ), "*")
	switch {
	case depth > 8:
		return Schema{}
	case typ == "[]byte" || typ == "[]uint8" || typ == "bytes":
		return bytesSchema()
	case strings.HasPrefix(typ, "[]"):
		return Schema{"type": "array", "items": recordType(v, typ[2:], input, depth+1)}
	case strings.HasPrefix(typ, "map["):
		if end := strings.Index(typ, "]"); end > 0 {
			return Schema{"type": "object", "additionalProperties": recordType(v, typ[end+1:], input, depth+1)}
		}
		return Schema{"type": "object"}
	}
	switch typ {
	case "string":
		return Schema{"type": "string"}
	case "bool":
		return Schema{"type": "boolean"}
	case "int", "int8", "int16", "int32", "uint", "uint8", "uint16", "uint32", "sint32", "fixed32", "sfixed32":
		return Schema{"type": "integer"}
	case "int64", "uint64", "sint64", "fixed64", "sfixed64":
		return Schema{"type": []any{"string", "integer"}, "pattern": "^-?[0-9]+$"}
	case "float", "float32", "float64", "double":
		return Schema{"type": "number"}
	case "google.protobuf.Timestamp", "time.Time", "Time":
		return Schema{"type": "string", "format": "date-time"}
	}
	if v != nil && len(v.Values) > 0 {
		return recordObject(v, input, depth)
	}
	return Schema{"description": "type " + cleanText(typ, 200)}
}
