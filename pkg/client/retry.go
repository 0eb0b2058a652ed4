package client

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/selector"
	"github.com/microtools/micro/pkg/transport"
)

// This file holds the one rule of failover: a call is sent to another node
// only when it cannot have reached a server. The pool is in pool.go, the
// replay of the requests in replay.go.

// attemptOutcome is what one attempt got as far as, for the retry
// decision.
type attemptOutcome struct {
	// invoked: the method was resolved and the RPC started (connecting
	// and resolving went well).
	invoked bool
	// requestSent: the RPC's request headers were handed to the
	// connection, so the server may have received the call.
	requestSent bool
	// idempotent: the method declares in its descriptor that running it
	// twice is safe (idempotency_level IDEMPOTENT or NO_SIDE_EFFECTS).
	idempotent bool
}

// isIdempotent tells whether method declares that running it twice is
// safe: `option idempotency_level = IDEMPOTENT;` or NO_SIDE_EFFECTS in its
// .proto file.
func isIdempotent(method protoreflect.MethodDescriptor) bool {
	opts, ok := method.Options().(*descriptorpb.MethodOptions)
	return ok && opts.GetIdempotencyLevel() != descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN
}

// mayRetryElsewhere tells whether a failed attempt may be made again on
// another node. Only failures before the request could have reached a
// server are retried: the node could not be connected to (refused, timed
// out, a TLS failure), its pooled connection was lost before the call
// started on it, or the connection failed before the request's headers were
// sent. Once the headers were sent, the server may have run the handler: an
// Unavailable status it returned, or a connection that broke afterwards,
// ends the call with that error, unless the method declares itself
// idempotent in its descriptor: then a call whose node went away with it
// in flight (Unavailable) is made again on another node. The context
// ending is never retried. The caller also keeps a call that has had a
// response, or whose requests cannot be replayed, from being retried.
func mayRetryElsewhere(ctx context.Context, err error, outcome attemptOutcome) bool {
	if ctx.Err() != nil {
		return false
	}
	if !outcome.invoked {
		return errors.As(err, new(*transport.ConnectError)) || connectionFailed(err)
	}
	if outcome.requestSent {
		return outcome.idempotent && status.Code(err) == codes.Unavailable
	}
	// The RPC failed before its headers left: the connection was down
	// (Unavailable) or closed under it (after another call's failure).
	return connectionFailed(err)
}

// connectionFailed tells whether err says the connection of an attempt
// cannot be used: the node is unreachable (Unavailable), or the connection
// was closed under the attempt (dropped after another call's failure).
func connectionFailed(err error) bool {
	return selector.IsConnectionError(err) || errors.Is(err, call.ErrClosed) || status.Code(err) == codes.Canceled
}
