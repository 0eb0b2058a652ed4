package codec

import (
	"errors"
	"strings"
)

// Content types of the codecs in this package.
const (
	// ContentTypeJSON is the content type of JSON.
	ContentTypeJSON = "application/json"
	// ContentTypeProto is the content type of binary protocol buffers.
	ContentTypeProto = "application/protobuf"
	// ContentTypeRaw is the content type of opaque bytes.
	ContentTypeRaw = "application/octet-stream"
)

// ErrUnsupportedType is returned by Marshal and Unmarshal when a codec cannot
// handle the Go type of the value: Proto wants a proto.Message, Raw wants a
// []byte (or a *[]byte to unmarshal into). Pick the codec that fits the value,
// or convert the value first.
var ErrUnsupportedType = errors.New("unsupported type")

// Codec encodes values to bytes and decodes them back.
type Codec interface {
	// Name is the short name of the codec, also used as the gRPC
	// content-subtype: "json", "proto", "raw".
	Name() string
	// ContentType is the MIME type of what Marshal produces.
	ContentType() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which is a pointer or a proto.Message.
	Unmarshal(data []byte, v any) error
}

// Aliaser is implemented by a codec that is known by more content types than
// the one it produces; a Table finds it by each of them.
type Aliaser interface {
	// ContentTypeAliases lists the other content types, lower case, without
	// parameters.
	ContentTypeAliases() []string
}

// Table finds codecs by name and by content type. Build one with NewTable or
// Default; the zero value is an empty table. A Table is not changed after it
// is built, so it is safe for concurrent use.
type Table struct {
	codecs []Codec
	byName map[string]Codec
	byType map[string]Codec
}

// NewTable returns a table of codecs. When two codecs share a name, the later
// one replaces the earlier one in place; when they share a content type, the
// later one wins. A codec's own content type wins over another codec's alias.
func NewTable(codecs ...Codec) *Table {
	t := &Table{byName: map[string]Codec{}, byType: map[string]Codec{}}
	position := map[string]int{}
	for _, c := range codecs {
		if c == nil {
			continue
		}
		if i, ok := position[c.Name()]; ok {
			t.codecs[i] = c
			continue
		}
		position[c.Name()] = len(t.codecs)
		t.codecs = append(t.codecs, c)
	}
	for _, c := range t.codecs {
		t.byName[c.Name()] = c
		if a, ok := c.(Aliaser); ok {
			for _, alias := range a.ContentTypeAliases() {
				t.byType[mediaType(alias)] = c
			}
		}
	}
	for _, c := range t.codecs {
		t.byType[mediaType(c.ContentType())] = c
	}
	return t
}

// Default returns a new table with JSON, Proto and Raw, each with its default
// settings.
func Default() *Table {
	return NewTable(JSON{}, Proto{}, Raw{})
}

// Codecs returns the codecs of the table in the order they were given.
func (t *Table) Codecs() []Codec {
	return append([]Codec(nil), t.codecs...)
}

// ByName returns the codec with the given name ("json", "proto", "raw").
func (t *Table) ByName(name string) (Codec, bool) {
	c, ok := t.byName[strings.ToLower(strings.TrimSpace(name))]
	return c, ok
}

// ByContentType returns the codec for a content type. Case and parameters are
// ignored ("Application/JSON; charset=utf-8" finds JSON), aliases are honoured
// (application/x-protobuf finds Proto), and gRPC content types find the codec
// named by their subtype: application/grpc+json finds JSON, application/grpc
// alone finds the codec named "proto".
func (t *Table) ByContentType(contentType string) (Codec, bool) {
	mt := mediaType(contentType)
	if c, ok := t.byType[mt]; ok {
		return c, true
	}
	if sub, ok := strings.CutPrefix(mt, "application/grpc"); ok {
		switch {
		case sub == "":
			return t.ByName("proto")
		case sub[0] == '+' && len(sub) > 1:
			return t.ByName(sub[1:])
		}
	}
	return nil, false
}

// mediaType returns the type/subtype of a content type, lower case, without
// parameters.
func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
