// Package nats is a registry backed by a NATS JetStream key-value bucket: the
// default backend of micro, served by the embedded server of `micro server`
// or by any NATS deployment with JetStream.
//
// Each node of a service is one record in the bucket (default
// "micro_registry"), keyed "<service>.<node id>". Characters that a key
// cannot hold are escaped as "=XX" (the byte in hexadecimal), and every dot
// of a node ID is escaped, so the node ID is always the last token of the key
// and a service named "a" never sees the nodes of "a.b". The value is JSON:
// the single-node service record, the TTL and the time it expires.
//
// Register writes the record; calling it again is the heartbeat and moves the
// expiry forward. Readers treat a record past its expiry as gone, so a node
// that stops its heartbeat disappears from GetService and ListServices after
// its TTL, and watchers report it deleted. A watcher first asks the bucket:
// while the connection is down or the bucket's stream has no leader it
// reports nothing gone, and after the connection came back, the stream
// answered again or a new leader of the stream took over (a cluster member
// died), it gives every node it knew one TTL to heartbeat again, since no
// heartbeat could be written meanwhile. The server removes such records a
// while later (a per-message TTL on NATS 2.11 and newer), so the bucket does
// not grow with dead nodes. Records registered with registry.NoExpiry carry no
// expiry and stay until Deregister.
//
// GetService, ListServices and Watch read the bucket with key-value watches, a
// single round of messages per call rather than one request per key. Clocks of
// the machines that register and read should agree (NTP): expiry is a
// timestamp written by the registering side.
//
// The connection New makes reconnects for as long as the registry is open; an
// operation while it is down fails at once with an error wrapping
// registry.ErrUnreachable that names the server URL.
package nats
