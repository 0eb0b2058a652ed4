package broker_test

import (
	"errors"
	"testing"

	"github.com/microtools/micro/pkg/broker"
)

func TestEventString(t *testing.T) {
	cases := []struct {
		ev   broker.Event
		want string
	}{
		{broker.Event{Kind: broker.Disconnected, URL: "amqp://127.0.0.1:5672/", Err: errors.New("EOF")}, "disconnected from amqp://127.0.0.1:5672/: EOF"},
		{broker.Event{Kind: broker.Reconnected, URL: "nats://127.0.0.1:4222"}, "reconnected to nats://127.0.0.1:4222"},
		{broker.Event{Kind: broker.Closed, URL: "nats://127.0.0.1:4222"}, "closed at nats://127.0.0.1:4222"},
		{broker.Event{Kind: broker.AsyncError, Subject: "orders.created", Err: errors.New("slow consumer")}, "error on topic orders.created: slow consumer"},
		{broker.Event{Kind: broker.EventKind(9)}, "EventKind(9)"},
	}
	for _, c := range cases {
		if have := c.ev.String(); have != c.want {
			t.Errorf("want %q, have %q", c.want, have)
		}
	}
}
