package memory_test

import (
	"errors"
	"testing"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
	"github.com/microtools/micro/pkg/broker/memory"
)

func newBroker(t *testing.T) broker.Broker {
	t.Helper()
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	brokertest.Run(t, newBroker)
}

func TestJetStreamNotSupported(t *testing.T) {
	b := newBroker(t)
	ctx := brokertest.Context(t)
	var ack broker.PublishAck
	for name, opts := range map[string][]broker.PublishOption{
		"JetStream": {broker.JetStream()},
		"AckTo":     {broker.AckTo(&ack)},
	} {
		if err := b.Publish(ctx, "a", &broker.Message{}, opts...); !errors.Is(err, broker.ErrNotSupported) {
			t.Errorf("%s: want ErrNotSupported, have %v", name, err)
		}
	}
	var c brokertest.Collector
	if _, err := b.Subscribe(ctx, "a", &c, broker.Durable("d")); !errors.Is(err, broker.ErrNotSupported) {
		t.Errorf("durable: want ErrNotSupported, have %v", err)
	}
}
