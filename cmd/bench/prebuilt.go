package bench

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
)

// prebuilt keeps the request of a run whose request is no template, read
// from JSON and encoded once per input type, so that a call neither parses
// the same JSON nor marshals the same message again: every call sends the
// same bytes (call.Encoded; gRPC only reads them, from any number of
// callers at once). A new input type (descriptors refreshed during the
// run) is read afresh. A request the JSON supplier refuses is never kept:
// each call then reads it itself and fails as it would have.
type prebuilt struct {
	text     string
	resolver call.Resolver

	kept atomic.Pointer[keptRequest] // read without a lock by every call
	mu   sync.Mutex                  // held while a request is read afresh
}

// keptRequest is the request of one input type, encoded.
type keptRequest struct {
	desc protoreflect.MessageDescriptor
	msg  proto.Message
}

// supplier is the request supplier of one unary or server-streaming call:
// the kept message, then io.EOF.
func (p *prebuilt) supplier() call.RequestSupplier {
	sent := false
	var fallback call.RequestSupplier
	return func(input protoreflect.MessageType) (proto.Message, error) {
		if fallback != nil {
			return fallback(input)
		}
		if sent {
			return nil, io.EOF
		}
		if msg := p.message(input); msg != nil {
			sent = true
			return msg, nil
		}
		fallback = call.NewJSONSupplier(strings.NewReader(p.text), p.resolver)
		return fallback(input)
	}
}

// message is the kept request of type input, read now if need be; nil when
// the JSON supplier does not give exactly one message.
func (p *prebuilt) message(input protoreflect.MessageType) proto.Message {
	if k := p.kept.Load(); k != nil && k.desc == input.Descriptor() {
		return k.msg
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := p.kept.Load(); k != nil && k.desc == input.Descriptor() {
		return k.msg // read by another call meanwhile
	}
	next := call.NewJSONSupplier(strings.NewReader(p.text), p.resolver)
	msg, err := next(input)
	if err != nil {
		return nil
	}
	if _, err := next(input); !errors.Is(err, io.EOF) {
		return nil // several requests, or an error after the first
	}
	encoded, err := call.Encode(msg)
	if err != nil {
		return nil
	}
	p.kept.Store(&keptRequest{desc: input.Descriptor(), msg: encoded})
	return encoded
}
