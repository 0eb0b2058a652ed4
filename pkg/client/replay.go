package client

import (
	"errors"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
)

// maxReplay bounds how many requests of one call a Client keeps so that it
// can send them again to another node. A call that sent more is not
// retried.
const maxReplay = 1024

// responseTracker notes whether a node answered an attempt: after a
// response or a response header, the call is not made again elsewhere.
type responseTracker struct {
	requests *replay
	answered atomic.Bool
}

func (t *responseTracker) answer() {
	if !t.answered.Swap(true) {
		t.requests.stopRecording()
	}
}

// wrap returns handler with the tracking added, keeping whether handler
// wants headers and trailers at all.
func (t *responseTracker) wrap(handler call.EventHandler) call.EventHandler {
	h := call.HandlerFuncs{Response: func(msg proto.Message) error {
		t.answer()
		if handler != nil {
			return handler.OnReceiveResponse(msg)
		}
		return nil
	}}
	if call.WantsMetadata(handler) {
		h.SendHeaders = handler.OnSendHeaders
		h.ReceiveHeaders = func(md metadata.MD) {
			if len(md) > 0 {
				t.answer()
			}
			handler.OnReceiveHeaders(md)
		}
		h.Trailers = func(st *status.Status, md metadata.MD) { handler.OnReceiveTrailers(st, md) }
	}
	return h
}

// replay keeps the requests a supplier gave so that a call can send them
// again to another node. Each attempt reads through a view of its own: the
// requests given already, then the supplier's next ones. Calls of the
// supplier are serialized, and a request read by an attempt that has been
// given up on (its sender was blocked in the supplier, reading a terminal,
// when its stream failed) is handed over to the latest attempt instead of
// being lost.
type replay struct {
	source call.RequestSupplier

	read sync.Mutex // held while the supplier is called

	mu        sync.Mutex
	latest    int             // the number of the latest view
	given     []proto.Message // every request given, while recording
	handover  []proto.Message // read by an older view, for the latest
	end       error           // the supplier's last error (io.EOF at the end)
	recording bool            // false once the call will not be made again
}

// errSuperseded ends the sender of an attempt that has been given up on.
var errSuperseded = errors.New("client: attempt superseded by another")

func newReplay(source call.RequestSupplier) *replay {
	return &replay{source: source, recording: true}
}

func (r *replay) view() call.RequestSupplier {
	r.mu.Lock()
	r.latest++
	number := r.latest
	r.mu.Unlock()
	next := 0
	// kept returns the next request this view has to send, or the
	// supplier's end, if there is either.
	kept := func() (proto.Message, bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if number != r.latest {
			return nil, true, errSuperseded
		}
		if next < len(r.given) {
			next++
			return r.given[next-1], true, nil
		}
		if len(r.handover) > 0 {
			msg := r.handover[0]
			r.handover = r.handover[1:]
			return msg, true, nil
		}
		if r.end != nil {
			return nil, true, r.end
		}
		return nil, false, nil
	}
	return func(input protoreflect.MessageType) (proto.Message, error) {
		if msg, ok, err := kept(); ok {
			return msg, err
		}
		r.read.Lock()
		defer r.read.Unlock()
		// Another view may have read while this one waited.
		if msg, ok, err := kept(); ok {
			return msg, err
		}
		msg, err := r.source(input)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.end = err
			return nil, err
		}
		superseded := number != r.latest
		switch {
		case r.recording && len(r.given) < maxReplay:
			r.given = append(r.given, msg)
			if !superseded {
				next = len(r.given)
			}
		case r.recording:
			r.recording, r.given = false, nil
			if superseded {
				r.handover = append(r.handover, msg)
			}
		case superseded:
			r.handover = append(r.handover, msg)
		}
		if superseded {
			return nil, errSuperseded
		}
		return msg, nil
	}
}

// stopRecording drops the requests kept: the call will not be made again.
func (r *replay) stopRecording() {
	r.mu.Lock()
	r.recording, r.given = false, nil
	r.mu.Unlock()
}

// replayable tells whether every request given so far was kept.
func (r *replay) replayable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recording
}
