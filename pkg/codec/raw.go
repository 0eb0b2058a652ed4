package codec

import (
	"bytes"
	"fmt"
)

var _ Codec = Raw{}

// Raw passes bytes through untouched: Marshal takes a []byte or a *[]byte,
// Unmarshal fills a *[]byte with a copy of the data. Other types fail with
// ErrUnsupportedType. The zero value is ready to use.
type Raw struct{}

// Name implements Codec.
func (Raw) Name() string { return "raw" }

// ContentType implements Codec.
func (Raw) ContentType() string { return ContentTypeRaw }

// Marshal implements Codec. The result shares memory with v.
func (Raw) Marshal(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		if b == nil {
			return nil, nil
		}
		return *b, nil
	default:
		return nil, fmt.Errorf("raw codec: cannot marshal %T: %w: want []byte or *[]byte", v, ErrUnsupportedType)
	}
}

// Unmarshal implements Codec. The bytes are copied, so data may be reused
// once Unmarshal returns.
func (Raw) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok || b == nil {
		return fmt.Errorf("raw codec: cannot unmarshal into %T: %w: want a non-nil *[]byte", v, ErrUnsupportedType)
	}
	*b = bytes.Clone(data)
	return nil
}
