package nats

import (
	"fmt"

	"github.com/microtools/micro/pkg/natsconn"
)

// WithReplicas sets how many copies of the registry bucket a NATS cluster
// keeps when New creates it (1 to 5); an existing bucket is used as it is.
// Zero, the default, chooses from the connection: 3 on a cluster of three
// or more servers, else 1 (natsconn.ClusterReplicas).
func WithReplicas(n int) Option {
	return func(o *Options) error {
		if n < 0 || n > 5 {
			return fmt.Errorf("nats registry: replicas must be 0 (automatic) to 5, not %d", n)
		}
		o.Replicas = n
		return nil
	}
}

// replicas is the replica count of a bucket created now.
func (r *Registry) replicas() int {
	if r.wantReplicas > 0 {
		return r.wantReplicas
	}
	return natsconn.ClusterReplicas(r.nc)
}

// Replicas is the number of copies the cluster keeps of the registry
// bucket, as the server reported when New opened it (zero until the first
// operation that opens it, with WithLazyOpen).
func (r *Registry) Replicas() int {
	r.kvMu.Lock()
	defer r.kvMu.Unlock()
	return r.bucketReplicas
}
