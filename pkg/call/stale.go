package call

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// ErrStaleDescriptors is wrapped by the error of a request that names a
// field the cached descriptors lack even after they were fetched again:
// the field is not the server's either (or the server could not be asked).
var ErrStaleDescriptors = errors.New("descriptors fetched again")

// StaleGuard lets a call whose descriptors come from a cache entry that may
// be stale (the node publishes no descriptors fingerprint, so the entry is
// keyed by service and version only) fetch them again, once, when the
// request names a field they lack or a response has fields they lack. The
// request is then read again with the new descriptors and each response
// decoded with them: a service rebuilt with a new field under the same
// version is called right, with one more reflection request.
//
// The client that calls by name (pkg/client) makes one per call: it wraps
// the call's supplier and handler once (Supplier, Handler) and points the
// guard at the source of each attempt (Use).
type StaleGuard struct {
	ctx               context.Context
	service, endpoint string

	mu         sync.Mutex
	src        Refresher        // the attempt's cache; nil: nothing to refresh
	findIn     DescriptorSource // the same, to find the method in
	refreshed  bool
	fresh      protoreflect.MethodDescriptor // the method after the refresh
	refreshErr error
}

// NewStaleGuard returns the guard of one call of endpoint of service; ctx
// bounds the fetching again.
func NewStaleGuard(ctx context.Context, service, endpoint string) *StaleGuard {
	return &StaleGuard{ctx: ctx, service: service, endpoint: endpoint}
}

// Use points the guard at the source of the current attempt; refreshable
// is false when the entry cannot be stale (a fingerprint keys it) or is not
// a cache (a Refresher).
func (g *StaleGuard) Use(src DescriptorSource, refreshable bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.src, g.findIn = nil, nil
	if r, ok := src.(Refresher); ok && refreshable {
		g.src, g.findIn = r, src
	}
}

// refresh fetches the descriptors again, once per call, and returns the
// method as they describe it.
func (g *StaleGuard) refresh() (protoreflect.MethodDescriptor, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refreshed || g.src == nil {
		return g.fresh, g.refreshErr
	}
	g.refreshed = true
	if err := g.src.Refresh(g.ctx); err != nil {
		g.refreshErr = err
		return nil, err
	}
	g.fresh, g.refreshErr = FindMethod(g.ctx, g.findIn, g.service, g.endpoint)
	return g.fresh, g.refreshErr
}

// freshType is the type to read requests of input as: the refreshed
// method's, once there is one of the same name.
func (g *StaleGuard) freshType(input protoreflect.MessageType, output bool) protoreflect.MessageType {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fresh == nil {
		return input
	}
	md := g.fresh.Input()
	if output {
		md = g.fresh.Output()
	}
	if md.FullName() != input.Descriptor().FullName() {
		return input
	}
	return dynamicpb.NewMessageType(md)
}

// Supplier wraps next: a request that names an unknown field makes the
// descriptors be fetched again and is read again with them.
func (g *StaleGuard) Supplier(next RequestSupplier) RequestSupplier {
	return func(input protoreflect.MessageType) (proto.Message, error) {
		msg, err := next(g.freshType(input, false))
		if err == nil || !errors.Is(err, ErrUnknownField) {
			return msg, err
		}
		g.mu.Lock()
		canRefresh := g.src != nil && !g.refreshed
		g.mu.Unlock()
		if !canRefresh {
			return nil, err
		}
		md, refreshErr := g.refresh()
		if refreshErr != nil {
			return nil, fmt.Errorf("%w (fetching the descriptors again failed: %w)", err, refreshErr)
		}
		if md.Input().FullName() != input.Descriptor().FullName() {
			return nil, err
		}
		msg, err = next(dynamicpb.NewMessageType(md.Input()))
		if err != nil && errors.Is(err, ErrUnknownField) {
			return nil, fmt.Errorf("%w (%w: the server does not have it either)", err, ErrStaleDescriptors)
		}
		return msg, err
	}
}

// Handler wraps next: a response with fields the descriptors lack makes
// them be fetched again, and the response is decoded with them.
func (g *StaleGuard) Handler(next EventHandler) EventHandler {
	h := HandlerFuncs{Response: func(msg proto.Message) error {
		g.mu.Lock()
		mayBeStale := g.src != nil
		g.mu.Unlock()
		if mayBeStale && hasUnknownFields(msg.ProtoReflect()) {
			msg = g.redecode(msg)
		}
		if next != nil {
			return next.OnReceiveResponse(msg)
		}
		return nil
	}}
	if WantsMetadata(next) {
		h.SendHeaders = next.OnSendHeaders
		h.ReceiveHeaders = next.OnReceiveHeaders
		h.Trailers = func(st *status.Status, md metadata.MD) { next.OnReceiveTrailers(st, md) }
	}
	return h
}

// redecode decodes msg again with the refreshed descriptors, if they know
// its fields; msg as it is otherwise.
func (g *StaleGuard) redecode(msg proto.Message) proto.Message {
	g.mu.Lock()
	canRefresh := g.src != nil
	g.mu.Unlock()
	if !canRefresh {
		return msg
	}
	if _, err := g.refresh(); err != nil {
		return msg
	}
	fresh := g.freshType(msg.ProtoReflect().Type(), true)
	if fresh.Descriptor() == msg.ProtoReflect().Descriptor() {
		return msg
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return msg
	}
	out := fresh.New().Interface()
	if err := proto.Unmarshal(data, out); err != nil {
		return msg
	}
	return out
}

// hasUnknownFields tells whether m or a message in it has fields its
// descriptor does not know.
func hasUnknownFields(m protoreflect.Message) bool {
	found := false
	walkMessages(m, func(m protoreflect.Message) bool {
		if len(m.GetUnknown()) > 0 {
			found = true
		}
		return !found
	})
	return found
}
