package api

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
)

// Envelope flags of the Connect streaming and gRPC-Web framing: a byte of
// flags, four bytes of big-endian length, then the payload.
const (
	flagCompressed   = 0x01
	flagEndStream    = 0x02 // Connect: the end-of-stream message
	flagTrailers     = 0x80 // gRPC-Web: the trailers frame
	envelopeOverhead = 5
)

// appendEnvelope appends a frame with flags and payload to buf.
func appendEnvelope(buf []byte, flags byte, payload []byte) []byte {
	var prefix [envelopeOverhead]byte
	prefix[0] = flags
	binary.BigEndian.PutUint32(prefix[1:], uint32(len(payload)))
	buf = append(buf, prefix[:]...)
	return append(buf, payload...)
}

// readEnvelope reads the single message of an enveloped request body:
// exactly one data frame, gunzipped when it is flagged as compressed.
func readEnvelope(body []byte, encoding string, limit int64) ([]byte, error) {
	if len(body) < envelopeOverhead {
		return nil, fmt.Errorf("the body is %d bytes, shorter than a frame header (5 bytes)", len(body))
	}
	flags := body[0]
	size := binary.BigEndian.Uint32(body[1:5])
	rest := body[envelopeOverhead:]
	if uint64(size) > uint64(len(rest)) {
		return nil, fmt.Errorf("the frame says %d bytes but the body has %d after its header", size, len(rest))
	}
	if flags&^flagCompressed != 0 {
		return nil, fmt.Errorf("unexpected frame flags %#x in a request", flags)
	}
	if uint64(size) < uint64(len(rest)) {
		return nil, fmt.Errorf("more than one message in the body of a method that takes one request")
	}
	payload := rest[:size]
	if flags&flagCompressed == 0 {
		return payload, nil
	}
	if encoding != "gzip" {
		return nil, fmt.Errorf("a compressed frame, but the message encoding is %q: only gzip is supported", encoding)
	}
	gz, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer gz.Close()
	data, err := io.ReadAll(io.LimitReader(gz, limit+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the message is larger than the gateway's limit of %d bytes", limit)
	}
	return data, nil
}
