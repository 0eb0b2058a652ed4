package call

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ParseJSON fills msg from data, a JSON value in the protobuf JSON mapping:
// an object for a message, or a well-known type's own form ("a" for a
// google.protobuf.StringValue, "2026-01-01T00:00:00Z" for a Timestamp, "2s"
// for a Duration, "7" or 7 for an Int64Value, [1,"x"] for a ListValue); field names in lowerCamelCase or as declared, enums by name or number,
// 64-bit integers as strings or numbers, the well-known types in their JSON
// forms, google.protobuf.Any with "@type" resolved through resolver (which may
// be nil for the well-known types only). Unknown fields and values of the
// wrong type are errors that name the field; msg's fields not in data are
// left as they are.
func ParseJSON(data []byte, msg proto.Message, resolver Resolver) error {
	return parseJSON(data, msg, resolver, true)
}

// NewJSONParser returns ParseJSON for messages of type md with resolver,
// made once for many requests of one type: it checks that proto2 required
// fields are set only when messages of md can have any (ParseJSON asks each
// message).
func NewJSONParser(md protoreflect.MessageDescriptor, resolver Resolver) func(data []byte, msg proto.Message) error {
	checkRequired := hasRequiredFields(md)
	return func(data []byte, msg proto.Message) error {
		return parseJSON(data, msg, resolver, checkRequired)
	}
}

// parseJSON is ParseJSON; checkRequired false skips the check that proto2
// required fields are set, for callers that know msg's type has none.
func parseJSON(data []byte, msg proto.Message, resolver Resolver, checkRequired bool) error {
	if resolver == nil {
		resolver = builtinResolver()
	}
	opts := protojson.UnmarshalOptions{Resolver: resolver, AllowPartial: true}
	err := opts.Unmarshal(data, msg)
	if err == nil && checkRequired {
		err = proto.CheckInitialized(msg)
	}
	if err != nil {
		return &JSONError{
			Message: msg.ProtoReflect().Descriptor().FullName(),
			Path:    pathOfError(data, err),
			Err:     err,
		}
	}
	return nil
}

// hasRequiredFields tells whether messages of type md can have proto2
// required fields unset: md's own, or those of the messages it holds.
func hasRequiredFields(md protoreflect.MessageDescriptor) bool {
	var seen []protoreflect.MessageDescriptor
	var walk func(md protoreflect.MessageDescriptor) bool
	walk = func(md protoreflect.MessageDescriptor) bool {
		for _, done := range seen {
			if done == md {
				return false
			}
		}
		seen = append(seen, md)
		if md.RequiredNumbers().Len() > 0 {
			return true
		}
		fields := md.Fields()
		for i := range fields.Len() {
			if field := fields.Get(i).Message(); field != nil && walk(field) {
				return true
			}
		}
		return false
	}
	return walk(md)
}

// JSONError is JSON that does not fit its message type: a syntax error, an
// unknown field, a value of the wrong type.
type JSONError struct {
	// Message is the type the JSON was read as.
	Message protoreflect.FullName
	// Path is where in the JSON the error is ("items[2].sku"), when known.
	Path string
	// Err is protojson's error.
	Err error
}

// Error is "invalid greeter.v1.HelloRequest at tags: ...".
func (e *JSONError) Error() string {
	at := ""
	if e.Path != "" {
		at = " at " + e.Path
	}
	// protojson's messages start with "proto:" and a space that varies on
	// purpose; what follows is the useful part.
	detail := strings.TrimLeftFunc(strings.TrimPrefix(e.Err.Error(), "proto:"), unicode.IsSpace)
	return fmt.Sprintf("invalid %s%s: %s", e.Message, at, detail)
}

// Unwrap returns protojson's error.
func (e *JSONError) Unwrap() error { return e.Err }

// Is matches ErrUnknownField when the JSON names a field the message type
// does not have.
func (e *JSONError) Is(target error) bool {
	return target == ErrUnknownField && strings.Contains(e.Err.Error(), "unknown field")
}

// positionPattern finds the position protojson gives in its errors;
// compiled on first use, not at start-up.
var positionPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\(line (\d+):(\d+)\)`) })

// pathOfError returns the path in data of the value err is about, from the
// line and column (in runes) protojson gives; "" when it cannot tell.
func pathOfError(data []byte, err error) string {
	match := positionPattern().FindStringSubmatch(err.Error())
	if match == nil {
		return ""
	}
	line, _ := strconv.Atoi(match[1])
	column, _ := strconv.Atoi(match[2])
	offset := 0
	for range line - 1 {
		next := bytes.IndexByte(data[offset:], '\n')
		if next < 0 {
			return ""
		}
		offset += next + 1
	}
	for range column - 1 {
		if offset >= len(data) {
			return ""
		}
		_, size := utf8.DecodeRune(data[offset:])
		offset += size
	}
	return pathAt(data, offset)
}

// pathAt returns the path of the JSON token that covers offset in data.
func pathAt(data []byte, offset int) string {
	type frame struct {
		array   bool
		key     string // object: the key of the current value
		wantKey bool   // object: the next string is a key
		index   int    // array: the index of the current value
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
			} else if f.key != "" && !f.wantKey {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		return b.String()
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	for {
		// Start a value: count it in its array.
		if n := len(stack); n > 0 && stack[n-1].array {
			stack[n-1].index++
		}
		token, err := decoder.Token()
		if err != nil {
			// The covering token is malformed: it is where the decoder
			// stopped.
			return path()
		}
		covers := int(decoder.InputOffset()) > offset
		n := len(stack)
		switch token := token.(type) {
		case json.Delim:
			switch token {
			case '{':
				if covers {
					return path()
				}
				stack = append(stack, frame{wantKey: true})
				continue
			case '[':
				if covers {
					return path()
				}
				stack = append(stack, frame{array: true, index: -1})
				continue
			default:
				stack = stack[:n-1]
				if covers {
					return path()
				}
			}
		case string:
			if n > 0 && !stack[n-1].array && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = token, false
				if covers {
					return path()
				}
				continue
			}
			if covers {
				return path()
			}
		default:
			if covers {
				return path()
			}
		}
		// A value ended: an object wants its next key.
		if n := len(stack); n > 0 && !stack[n-1].array {
			stack[n-1].wantKey = true
		}
	}
}

// FormatOptions say how messages are written as JSON.
type FormatOptions struct {
	// EmitDefaults writes fields that have their default value (0, "",
	// false, empty lists) instead of leaving them out; an unset proto2
	// field is written with its declared default ([default = ...]), not
	// null.
	EmitDefaults bool
	// ProtoNames names fields as declared in the .proto file (delay_ms)
	// instead of in lowerCamelCase (delayMs).
	ProtoNames bool
	// Indent, when not empty, writes one field a line indented by it;
	// otherwise a message is written on one line, as NDJSON wants.
	Indent string
}

// Formatter writes a message as text, without a trailing newline.
type Formatter func(proto.Message) ([]byte, error)

// NewJSONFormatter returns a Formatter that writes messages in the protobuf
// JSON mapping. google.protobuf.Any values are resolved through resolver
// (nil: the well-known and google.rpc types only); an Any whose type cannot be
// resolved never fails the output: it is written with its type URL and the
// base64 of its value, as described at UnknownAnyField.
func NewJSONFormatter(resolver Resolver, opts FormatOptions) Formatter {
	if resolver == nil {
		resolver = builtinResolver()
	}
	marshal := protojson.MarshalOptions{
		// A response that lacks required fields still prints.
		AllowPartial:    true,
		Resolver:        newFallbackResolver(resolver),
		EmitUnpopulated: opts.EmitDefaults,
		UseProtoNames:   opts.ProtoNames,
	}
	return func(msg proto.Message) ([]byte, error) {
		if opts.EmitDefaults && lacksDefaults(msg.ProtoReflect()) {
			msg = proto.Clone(msg)
			fillDefaults(msg.ProtoReflect())
		}
		data, err := marshal.Marshal(msg)
		if err != nil {
			return nil, fmt.Errorf("write %s as JSON: %w", msg.ProtoReflect().Descriptor().FullName(), err)
		}
		// protojson varies its spacing on purpose from build to build;
		// laying the output out again makes it stable.
		var out bytes.Buffer
		out.Grow(len(data) + len(data)/4)
		if opts.Indent != "" {
			err = json.Indent(&out, data, "", opts.Indent)
		} else {
			err = json.Compact(&out, data)
		}
		if err != nil {
			return nil, fmt.Errorf("write %s as JSON: %w", msg.ProtoReflect().Descriptor().FullName(), err)
		}
		return out.Bytes(), nil
	}
}

// hasDeclaredDefault tells whether fd is an unset-able scalar that JSON
// would write as null with EmitUnpopulated: a proto2 (or editions) field
// with presence outside a oneof. Its default is declared or the zero value.
func hasDeclaredDefault(fd protoreflect.FieldDescriptor) bool {
	return fd.HasPresence() && fd.ContainingOneof() == nil && fd.Message() == nil && !fd.IsList() && !fd.IsMap()
}

// lacksDefaults tells whether m or a message in it has such a field unset.
func lacksDefaults(m protoreflect.Message) bool {
	lacks := false
	walkMessages(m, func(m protoreflect.Message) bool {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); hasDeclaredDefault(fd) && !m.Has(fd) {
				lacks = true
				return false
			}
		}
		return true
	})
	return lacks
}

// fillDefaults sets the unset proto2 fields of m, and of the messages in
// it, to their defaults, so that they are written as values, not null.
func fillDefaults(m protoreflect.Message) {
	walkMessages(m, func(m protoreflect.Message) bool {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); hasDeclaredDefault(fd) && !m.Has(fd) {
				m.Set(fd, fd.Default())
			}
		}
		return true
	})
}

// walkMessages calls fn for m and every message set in it (fields, lists,
// map values), until fn returns false.
func walkMessages(m protoreflect.Message, fn func(protoreflect.Message) bool) bool {
	if !fn(m) {
		return false
	}
	more := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
					more = walkMessages(v.Message(), fn)
					return more
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := range v.List().Len() {
					if more = walkMessages(v.List().Get(i).Message(), fn); !more {
						break
					}
				}
			}
		case fd.Message() != nil:
			more = walkMessages(v.Message(), fn)
		}
		return more
	})
	return more
}
