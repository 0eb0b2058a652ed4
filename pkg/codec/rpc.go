package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Content types of go-micro's RPC envelopes: the body of a request or
// response wrapped with the method, a sequence number and the error. A
// go-micro client uses them for nodes that do not say which protocol they
// speak.
const (
	// ContentTypeJSONRPC is JSON-RPC 1.0: {"method", "params": [body], "id"}
	// and {"id", "result", "error"}.
	ContentTypeJSONRPC = "application/json-rpc"
	// ContentTypeProtoRPC is net/rpc's proto-rpc: a length-prefixed
	// protobuf header (method, sequence, error) then the length-prefixed
	// body.
	ContentTypeProtoRPC = "application/proto-rpc"
)

// ErrEnvelope is wrapped by the Decode functions of the RPC envelopes when
// the data is not such an envelope.
var ErrEnvelope = errors.New("malformed rpc envelope")

// Envelope is a request or a response as go-micro's json-rpc and proto-rpc
// envelopes carry it.
type Envelope struct {
	// Method is "Service.Method" (requests; proto-rpc responses too).
	Method string
	// ID is the sequence number, as a decimal string.
	ID string
	// Error is the server's error (responses), go-micro's JSON error or
	// plain text; empty for success.
	Error string
	// Body is the encoded request or response, JSON or protobuf.
	Body []byte
}

type jsonRPCRequest struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	ID     any               `json:"id"`
}

type jsonRPCResponse struct {
	ID     any             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  any             `json:"error"`
}

// EncodeJSONRPCRequest wraps e.Body (JSON; empty is {}) in a json-rpc
// request.
func EncodeJSONRPCRequest(e Envelope) ([]byte, error) {
	body := e.Body
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("json-rpc: the request body is not JSON")
	}
	return json.Marshal(jsonRPCRequest{Method: e.Method, Params: []json.RawMessage{body}, ID: e.ID})
}

// DecodeJSONRPCRequest unwraps a json-rpc request.
func DecodeJSONRPCRequest(data []byte) (Envelope, error) {
	var req jsonRPCRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return Envelope{}, fmt.Errorf("json-rpc request: %w: %w", ErrEnvelope, err)
	}
	e := Envelope{Method: req.Method, ID: fmt.Sprint(req.ID)}
	if len(req.Params) > 0 {
		e.Body = req.Params[0]
	}
	return e, nil
}

// EncodeJSONRPCResponse wraps e.Body (JSON) and e.Error in a json-rpc
// response.
func EncodeJSONRPCResponse(e Envelope) ([]byte, error) {
	resp := jsonRPCResponse{ID: e.ID, Result: e.Body}
	if len(resp.Result) == 0 {
		resp.Result = json.RawMessage("null")
	}
	if e.Error != "" {
		resp.Error = e.Error
	}
	return json.Marshal(resp)
}

// DecodeJSONRPCResponse unwraps a json-rpc response.
func DecodeJSONRPCResponse(data []byte) (Envelope, error) {
	var resp jsonRPCResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return Envelope{}, fmt.Errorf("json-rpc response: %w: %w", ErrEnvelope, err)
	}
	e := Envelope{ID: fmt.Sprint(resp.ID)}
	switch v := resp.Error.(type) {
	case nil:
	case string:
		e.Error = v
		if e.Error == "" {
			e.Error = "unspecified error"
		}
	default:
		raw, _ := json.Marshal(v)
		e.Error = string(raw)
	}
	if string(resp.Result) != "null" {
		e.Body = resp.Result
	}
	return e, nil
}

// Field numbers of proto-rpc's header messages (Request: service_method,
// seq; Response: service_method, seq, error).
const (
	protoRPCMethod = 1
	protoRPCSeq    = 2
	protoRPCError  = 3
)

// EncodeProtoRPCRequest wraps e.Body (protobuf) in a proto-rpc request.
func EncodeProtoRPCRequest(e Envelope) ([]byte, error) {
	return encodeProtoRPC(e, false)
}

// EncodeProtoRPCResponse wraps e.Body and e.Error in a proto-rpc response.
func EncodeProtoRPCResponse(e Envelope) ([]byte, error) {
	return encodeProtoRPC(e, true)
}

// DecodeProtoRPCRequest unwraps a proto-rpc request.
func DecodeProtoRPCRequest(data []byte) (Envelope, error) {
	return decodeProtoRPC(data, "request")
}

// DecodeProtoRPCResponse unwraps a proto-rpc response.
func DecodeProtoRPCResponse(data []byte) (Envelope, error) {
	return decodeProtoRPC(data, "response")
}

func encodeProtoRPC(e Envelope, response bool) ([]byte, error) {
	var seq uint64
	if e.ID != "" {
		if _, err := fmt.Sscan(e.ID, &seq); err != nil {
			return nil, fmt.Errorf("proto-rpc: id %q is not a number", e.ID)
		}
	}
	var header []byte
	if e.Method != "" {
		header = protowire.AppendTag(header, protoRPCMethod, protowire.BytesType)
		header = protowire.AppendString(header, e.Method)
	}
	header = protowire.AppendTag(header, protoRPCSeq, protowire.Fixed64Type)
	header = protowire.AppendFixed64(header, seq)
	if response && e.Error != "" {
		header = protowire.AppendTag(header, protoRPCError, protowire.BytesType)
		header = protowire.AppendString(header, e.Error)
	}
	out := make([]byte, 0, 8+len(header)+len(e.Body))
	out = binary.BigEndian.AppendUint32(out, uint32(len(header)))
	out = append(out, header...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(e.Body)))
	return append(out, e.Body...), nil
}

func decodeProtoRPC(data []byte, what string) (Envelope, error) {
	header, rest, err := netstring(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("proto-rpc %s header: %w", what, err)
	}
	body, rest, err := netstring(rest)
	if err != nil {
		return Envelope{}, fmt.Errorf("proto-rpc %s body: %w", what, err)
	}
	if len(rest) > 0 {
		return Envelope{}, fmt.Errorf("proto-rpc %s: %w: %d bytes after the body", what, ErrEnvelope, len(rest))
	}
	e := Envelope{Body: body, ID: "0"}
	for len(header) > 0 {
		num, typ, n := protowire.ConsumeTag(header)
		if n < 0 {
			return Envelope{}, fmt.Errorf("proto-rpc %s header: %w: %w", what, ErrEnvelope, protowire.ParseError(n))
		}
		header = header[n:]
		switch {
		case num == protoRPCMethod && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(header)
			if n < 0 {
				return Envelope{}, fmt.Errorf("proto-rpc %s method: %w", what, ErrEnvelope)
			}
			e.Method, header = v, header[n:]
		case num == protoRPCSeq && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(header)
			if n < 0 {
				return Envelope{}, fmt.Errorf("proto-rpc %s seq: %w", what, ErrEnvelope)
			}
			e.ID, header = fmt.Sprint(v), header[n:]
		case num == protoRPCError && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(header)
			if n < 0 {
				return Envelope{}, fmt.Errorf("proto-rpc %s error: %w", what, ErrEnvelope)
			}
			e.Error, header = v, header[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, header)
			if n < 0 {
				return Envelope{}, fmt.Errorf("proto-rpc %s header: %w", what, ErrEnvelope)
			}
			header = header[n:]
		}
	}
	return e, nil
}

// netstring reads a 4-byte big-endian length and that many bytes.
func netstring(data []byte) (value, rest []byte, err error) {
	if len(data) < 4 {
		return nil, nil, fmt.Errorf("%w: %d bytes, want a 4-byte length", ErrEnvelope, len(data))
	}
	size := binary.BigEndian.Uint32(data)
	data = data[4:]
	if uint64(size) > uint64(len(data)) {
		return nil, nil, fmt.Errorf("%w: length %d, only %d bytes", ErrEnvelope, size, len(data))
	}
	return data[:size], data[size:], nil
}
