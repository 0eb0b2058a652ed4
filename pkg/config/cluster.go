package config

import (
	"fmt"

	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/pkg/natsconn"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// natsReconnectReport tells warn once each time the registry's NATS
// connection comes back on a server, which with a cluster is often another
// member: "nats registry: reconnected to nats://127.0.0.1:4223". Nil warn
// reports nothing.
func natsReconnectReport(warn func(error)) natsregistry.Option {
	if warn == nil {
		return nil
	}
	return natsregistry.WithNATSOptions(natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
		warn(fmt.Errorf("nats registry: reconnected to %s", natsconn.ConnURL(nc)))
	}))
}
