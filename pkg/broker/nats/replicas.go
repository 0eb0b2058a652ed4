package nats

import (
	"fmt"

	"github.com/microtools/micro/pkg/natsconn"
)

// WithReplicas sets how many copies of a stream a NATS cluster keeps when
// the broker creates it (1 to 5); existing streams are used as they are.
// Zero, the default, chooses from the connection: 3 on a cluster of three
// or more servers, else 1 (natsconn.ClusterReplicas). Durable consumers
// have as many replicas as their stream.
func WithReplicas(n int) Option {
	return func(o *Options) error {
		if n < 0 || n > 5 {
			return fmt.Errorf("nats broker: replicas must be 0 (automatic) to 5, not %d", n)
		}
		o.Replicas = n
		return nil
	}
}

// replicas is the replica count of a stream created now.
func (b *Broker) replicas() int {
	if b.wantReplicas > 0 {
		return b.wantReplicas
	}
	return natsconn.ClusterReplicas(b.nc)
}
