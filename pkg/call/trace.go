package call

import (
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/registry"
)

// ClientTrace is told what a call by name does, step by step, for
// diagnostics such as `micro call -v`: the client that calls by name
// (pkg/client) reports its steps here. Nil functions are skipped; they are
// called from the goroutine that made the call.
type ClientTrace struct {
	// NodeSelected is told the node chosen for an attempt and the version
	// of the service it runs ("" when unknown).
	NodeSelected func(node *registry.Node, version string)
	// Connected is told how the connection to the node went; reused is set
	// when the client had it already.
	Connected func(address string, took time.Duration, reused bool, err error)
	// ConnectedAhead, when set, is told before Connected that the
	// connection was opened ahead of the node choice (client.Prepare, while
	// the registry was read): dial is how long opening it took; Connected's
	// took is then how long the call waited for it.
	ConnectedAhead func(address string, dial time.Duration)
	// MethodResolved is told the method found for the endpoint, where its
	// descriptors came from, and how long finding it took.
	MethodResolved func(method protoreflect.MethodDescriptor, from string, took time.Duration, err error)
	// Retrying is told why an attempt on node failed, when the call goes
	// on to another node (just before NodeSelected tells which).
	Retrying func(node *registry.Node, err error)
}

// WithTrace reports the steps of a call by name to trace. Invoke ignores
// it.
func WithTrace(trace *ClientTrace) InvokeOption {
	return func(o *invokeOptions) { o.trace = trace }
}

// TraceOf returns the trace the WithTrace among opts give, or nil, for the
// client that makes the call.
func TraceOf(opts ...InvokeOption) *ClientTrace {
	var o invokeOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o.trace
}
