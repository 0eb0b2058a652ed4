package call

import "google.golang.org/grpc/metadata"

// HeadersOf returns the request metadata that the WithHeaders among opts
// add, for a caller that sends the call over another transport.
func HeadersOf(opts ...InvokeOption) metadata.MD {
	var o invokeOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o.headers
}
