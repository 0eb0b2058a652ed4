// Package broker publishes messages to topics and delivers them to
// subscribers: the asynchronous half of a micro service, beside its gRPC
// server.
//
// A Broker has three implementations: nats (package
// github.com/microtools/micro/pkg/broker/nats), core NATS with JetStream for
// durable delivery; rabbitmq (package .../broker/rabbitmq), a topic exchange
// with shared and durable queues and publisher confirms; and memory
// (package .../broker/memory), in-process, for tests. All follow the same
// rules:
//
//   - A topic is a NATS subject: tokens separated by dots, no whitespace, no
//     empty token ("orders.created"). A subscription may use the wildcards
//     "*" (exactly one token) and ">" (one or more tokens, last only);
//     ValidateTopic and ValidatePattern check them, MatchTopic matches them.
//   - A Message is headers and a body. The Content-Type header names the
//     codec of the body (application/json, application/protobuf; see package
//     codec); Encode sets both. Headers are multi-valued and case-sensitive,
//     exactly as NATS carries them, so `nats pub` and `nats sub` see what
//     micro sends and the other way round.
//   - Subscribers that give the same Queue share the messages of a topic: each
//     message goes to one of them. Other subscribers each get every message.
//   - A Handler returns nil when it is done with a message. For core delivery
//     an error is logged (by brokers given a logger) and the message is gone; for a durable (JetStream)
//     subscription the message is acknowledged only after a nil return and
//     delivered again after an error, unless the error wraps
//     ErrUnprocessable.
//   - A subscription delivers one message at a time, in order, unless
//     Concurrency allows more calls at once. A slow handler holds up only its
//     own subscription.
//
// Brokers that keep a connection report its losses and recoveries as Events
// to the event handler they are given. Confirm makes a publish wait until
// the broker has taken the message (a RabbitMQ publisher confirm; a flush on
// NATS).
//
// Publishing with JetStream (the JetStream option) waits until a stream has
// stored the message, and AckTo reports which stream and at what sequence.
// Durable subscriptions (the Durable option) are JetStream consumers: they
// resume where they stopped, and every subscriber using the same durable name
// shares its messages.
package broker
