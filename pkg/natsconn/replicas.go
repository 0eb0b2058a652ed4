package natsconn

import "github.com/nats-io/nats.go"

// ClusterReplicas is the replica count for a stream or key-value bucket
// created over nc when none was asked for: 3 when nc is connected to a
// member of a cluster of three or more servers (the ones nc was given and
// the ones the server told it of), else 1. Three replicas survive the loss
// of any one member.
func ClusterReplicas(nc *nats.Conn) int {
	if nc == nil || nc.ConnectedClusterName() == "" {
		return 1
	}
	if len(nc.Servers()) >= 3 {
		return 3
	}
	return 1
}
