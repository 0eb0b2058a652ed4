// Package memory is an in-process broker.Broker for tests and for programs
// that run every part in one process. It follows the rules of package broker
// — topics and wildcards, queue groups, concurrency, Unsubscribe and Drain —
// without a server.
//
// Publish copies the message and hands it to each matching subscription (one
// member of each queue group, in turn) without waiting for handlers: every
// subscription has a queue of its own, so a slow handler never holds up a
// publisher or another subscription. The broker keeps nothing: JetStream
// publishing and durable subscriptions fail with broker.ErrNotSupported.
package memory
