package selector

import (
	"context"
	"errors"

	"github.com/microtools/micro/pkg/registry"
)

// Selector picks nodes of a service for calls.
type Selector interface {
	// Select returns the candidates of one call to service, filtered by
	// opts. It fails when the service is unknown (the error wraps
	// registry.ErrNotFound) or when no node passes the filters (ErrNoMatch).
	Select(ctx context.Context, service string, opts ...SelectOption) (Next, error)
	// Mark reports how a call to node ended, for a caller that did not use
	// the Done that came with the node: nil clears the node's failures, a
	// connection error ejects it.
	Mark(service string, node *registry.Node, err error)
	// Close stops watching the registry. Select fails with ErrClosed after.
	Close() error
}

// Next returns the next node to try for one call, with the Done to call when
// the call to that node ends. It never returns a node twice; once every
// candidate has been returned it fails with ErrExhausted. The node is shared
// with the cache and must not be changed. A Next is safe for concurrent use,
// though a call normally uses it from one goroutine.
type Next func() (*registry.Node, Done, error)

// Done reports how a call to a node ended. It takes the call off the node's
// in-flight count and, like Selector.Mark, clears the node's failures when err
// is nil and ejects the node when err is a connection error. Calls after the
// first do nothing.
type Done func(err error)

// Candidate is a node that a filter or a strategy considers.
type Candidate struct {
	// Node is the node; it is shared and must not be changed.
	Node *registry.Node
	// Version is the version of the service record the node belongs to.
	Version string
	// InFlight is how many calls through this selector are in progress on
	// the node.
	InFlight int
}

var (
	// ErrNoMatch is returned by Select when the service has nodes but none
	// passes the filters. The message lists the versions (and, for metadata
	// filters, the values) that exist; loosen the filters or check what is
	// registered with `micro get service`.
	ErrNoMatch = errors.New("no node matches the filters")
	// ErrExhausted is returned by Next once every candidate of the call has
	// been returned: there is no other node to retry on.
	ErrExhausted = errors.New("no node left to try")
	// ErrClosed is returned by Select after Close.
	ErrClosed = errors.New("selector closed")
)
