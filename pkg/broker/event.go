package broker

import (
	"fmt"
	"strings"
)

// EventKind says what happened to a broker's connection.
type EventKind int

// Kinds of Event.
const (
	// Disconnected: the connection to the server was lost; the broker is
	// reconnecting. Err is the cause when known.
	Disconnected EventKind = iota + 1
	// Reconnected: the connection is back, to URL, and the subscriptions
	// are in place again.
	Reconnected
	// Closed: the connection was closed and will not come back.
	Closed
	// AsyncError: something went wrong that no call returns, such as a
	// subscription that could not be restored after a reconnect. Err says
	// what; Subject names the topic when known.
	AsyncError
)

// String implements fmt.Stringer: "disconnected", "reconnected", "closed",
// "error".
func (k EventKind) String() string {
	switch k {
	case Disconnected:
		return "disconnected"
	case Reconnected:
		return "reconnected"
	case Closed:
		return "closed"
	case AsyncError:
		return "error"
	default:
		return fmt.Sprintf("EventKind(%d)", int(k))
	}
}

// Event is a change of a broker connection's state, as brokers that take an
// event handler report it. It is the same for every broker (and for the
// NATS connections of registries, natsconn.Event), so a program prints them
// in one way.
type Event struct {
	Kind EventKind
	// URL is the server concerned, without credentials.
	URL string
	// Subject is the topic an AsyncError concerns, if any.
	Subject string
	// Err is the cause, when there is one.
	Err error
}

// String is one line for a log or a terminal:
// "disconnected from amqp://127.0.0.1:5672/: EOF".
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	switch e.Kind {
	case Disconnected:
		b.WriteString(" from ")
		b.WriteString(e.URL)
	case Reconnected:
		b.WriteString(" to ")
		b.WriteString(e.URL)
	default:
		if e.URL != "" {
			b.WriteString(" at ")
			b.WriteString(e.URL)
		}
	}
	if e.Subject != "" {
		b.WriteString(" on topic ")
		b.WriteString(e.Subject)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}
