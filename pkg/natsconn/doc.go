// Package natsconn connects to NATS the way every micro component does: a
// comma-separated list of server URLs, credentials and TLS given as options,
// reconnection for as long as the connection is open, connection events
// reported to a callback instead of printed, and a first connection that fails
// fast with the real cause.
//
// nats.go reports an unreachable server as "no servers available for
// connection"; Connect dials again to find out why and returns an error that
// names the URL (without credentials) and the system error, and wraps
// ErrUnreachable and that system error:
//
//	cannot reach nats at nats://127.0.0.1:4222: connection refused
//
// The registry and the broker both connect through this package and wrap its
// errors in their own sentinels (registry.ErrUnreachable,
// broker.ErrUnreachable).
package natsconn
