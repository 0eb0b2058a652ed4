package call

import (
	"testing"

	"google.golang.org/grpc/mem"
)

// TestWireCodecChecksUndecodedResponses: a response that is not decoded
// is still checked to be made of well-formed protobuf fields.
func TestWireCodecChecksUndecodedResponses(t *testing.T) {
	tests := []struct {
		name    string
		wire    []byte
		wantErr bool
	}{
		{"empty", nil, false},
		{"a string field", []byte{0x0a, 0x02, 'h', 'i'}, false},
		{"a length past the end", []byte{0x0a, 0x05, 'h', 'i'}, true},
		{"a tag cut short", []byte{0x80}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wireCodec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tt.wire)}, &undecoded{})
			if (err != nil) != tt.wantErr {
				t.Errorf("want an error %v, have %v", tt.wantErr, err)
			}
		})
	}
}
