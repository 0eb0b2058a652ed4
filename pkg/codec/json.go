package codec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
)

var _ Codec = JSON{}

// JSON encodes protocol buffer messages with protojson (the canonical JSON
// mapping: lowerCamelCase names, 64-bit integers as strings, well-known types
// as their JSON forms) and every other value with encoding/json. The zero
// value is ready to use; the fields change how proto messages are handled.
//
// Output is compact: protojson's deliberately unstable spacing is removed, so
// the same message always encodes to the same bytes.
type JSON struct {
	// EmitDefaults writes fields that hold their default value (0, "", false,
	// empty lists) instead of leaving them out.
	EmitDefaults bool
	// ProtoNames writes field names as in the .proto file (user_id) instead
	// of lowerCamelCase (userId). Unmarshal accepts both either way.
	ProtoNames bool
	// DiscardUnknown makes Unmarshal ignore fields the message does not have
	// instead of failing. encoding/json always ignores them.
	DiscardUnknown bool
}

// Name implements Codec.
func (JSON) Name() string { return "json" }

// ContentType implements Codec.
func (JSON) ContentType() string { return ContentTypeJSON }

// Marshal implements Codec.
func (c JSON) Marshal(v any) ([]byte, error) {
	if m, ok := asProto(v); ok {
		opts := protojson.MarshalOptions{EmitUnpopulated: c.EmitDefaults, UseProtoNames: c.ProtoNames}
		data, err := opts.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("json codec: marshal %s: %w", messageName(m), err)
		}
		var out bytes.Buffer
		out.Grow(len(data))
		if err := json.Compact(&out, data); err != nil {
			return nil, fmt.Errorf("json codec: compact %s: %w", messageName(m), err)
		}
		return out.Bytes(), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json codec: marshal %T: %w", v, err)
	}
	return data, nil
}

// Unmarshal implements Codec.
func (c JSON) Unmarshal(data []byte, v any) error {
	if m, ok := asProto(v); ok {
		opts := protojson.UnmarshalOptions{DiscardUnknown: c.DiscardUnknown}
		if err := opts.Unmarshal(data, m); err != nil {
			return fmt.Errorf("json codec: unmarshal %s: %w", messageName(m), err)
		}
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("json codec: unmarshal into %T: %w", v, err)
	}
	return nil
}
