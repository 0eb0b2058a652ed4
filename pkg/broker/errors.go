package broker

import "errors"

var (
	// ErrInvalidTopic is wrapped by the error of Publish and Subscribe for a
	// topic that NATS cannot carry: empty, with whitespace or an empty token
	// ("a..b"), or with a wildcard where none is allowed. Nothing is sent.
	// The error says what is wrong; fix the topic.
	ErrInvalidTopic = errors.New("invalid topic")

	// ErrUnreachable is wrapped when the broker's server cannot be reached,
	// when connecting or later. The error names the server URL and the
	// cause ("connection refused"); start the server (`micro server`) or
	// point the broker address at a running one.
	ErrUnreachable = errors.New("broker unreachable")

	// ErrClosed is wrapped when the broker was closed before the call.
	// Create a new broker.
	ErrClosed = errors.New("broker closed")

	// ErrNotSupported is wrapped when an option asks for something the
	// broker cannot do, such as JetStream on the memory broker or on a NATS
	// server without JetStream enabled.
	ErrNotSupported = errors.New("not supported")

	// ErrNoStream is wrapped when publishing with JetStream, or subscribing
	// durably, to a topic that no JetStream stream stores. Create a stream
	// (the CreateStream option, or `nats stream add`) or name one with
	// Stream.
	ErrNoStream = errors.New("no stream for topic")

	// ErrUnprocessable is for handlers to wrap in their error when a
	// message can never be handled, such as a body that does not decode:
	// a durable subscription then drops the message instead of delivering
	// it again.
	ErrUnprocessable = errors.New("message cannot be processed")
)

// ErrAuth is wrapped when the broker's server refuses the credentials (or
// the virtual host) it was given. The error names the server and the user;
// fix the user name and password, or the virtual host, of the broker
// address.
var ErrAuth = errors.New("broker refused the credentials")
