// Package nats is a broker.Broker on NATS: core NATS for fire-and-forget
// publishing and queue groups, JetStream for messages that must not be lost.
// It is the default broker of micro, served by the embedded server of
// `micro server` or by any NATS deployment.
//
// A topic is the NATS subject, the headers of a message are native NATS
// headers and the body is the payload, so other NATS clients interoperate:
//
//	nats pub -H Content-Type:application/json orders.created '{"id":7}'
//	nats sub orders.created
//
// New connects (see package natsconn): URLs, credentials and TLS are options,
// the connection reconnects for as long as the broker is open, and
// subscriptions carry on after a reconnect. WithEventHandler tells the caller
// of each disconnect and reconnect. An unreachable server fails New at once
// with an error that wraps broker.ErrUnreachable and names the URL and the
// cause:
//
//	nats broker: cannot reach nats at nats://127.0.0.1:4222: connection refused
//
// Core publishing is buffered by nats.go and returns without a round trip
// (broker.Flush waits for the server); while the connection is being
// re-established, messages are buffered and sent after the reconnect.
//
// broker.JetStream publishes through JetStream and waits for the stream's
// acknowledgement; broker.Durable subscribes with a durable pull consumer
// that acknowledges a message after its handler returns nil, asks for it
// again after an error (after a back-off that grows with each delivery), and
// drops it when the error wraps broker.ErrUnprocessable. A handler that runs
// longer than the consumer's ack wait keeps its message by reporting
// progress. The stream is the one that stores the topic, the one
// broker.Stream names (which must store the topic, or the error wraps
// broker.ErrNoStream), or one broker.CreateStream makes. A durable name
// that is a push consumer another tool made is consumed on its deliver
// subject, in its deliver group.
//
// Each subscription handles its messages on goroutines of its own, one at a
// time unless broker.Concurrency allows more, so a slow handler never holds
// up the connection, other subscriptions or publishers. A core subscription
// that falls far behind (half a million messages or 64 MiB) loses messages,
// as NATS does for slow consumers; the event handler is told.
package nats
