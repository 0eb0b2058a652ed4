package nats_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
)

// TestDurablePushConsumer: a durable name that is a push consumer made by
// another tool (natscli's `nats consumer add` makes them) is consumed on its
// deliver subject, in its deliver group, and its messages are acknowledged.
func TestDurablePushConsumer(t *testing.T) {
	srv := testenv.NATS(t)
	ctx := brokertest.Context(t)
	js, err := jetstream.New(bareConn(t, srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	root := brokertest.UniqueTopic(t, "push")
	stream := strings.ReplaceAll(strings.ToUpper(root), ".", "_")
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{root + ".>"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		group string
	}{
		{"plain", ""},
		{"deliver group", "workers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := root + "." + strings.ReplaceAll(c.name, " ", "_")
			durable := "pushed-" + strings.ReplaceAll(c.name, " ", "-")
			_, err := js.CreateOrUpdatePushConsumer(ctx, stream, jetstream.ConsumerConfig{
				Durable: durable, DeliverSubject: "deliver." + durable, DeliverGroup: c.group,
				FilterSubject: topic, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			b := newBroker(t, srv.URL())
			for i := range 5 {
				brokertest.Publish(t, b, topic, &broker.Message{Body: []byte(strconv.Itoa(i))}, broker.JetStream())
			}
			var got brokertest.Collector
			sub := brokertest.Subscribe(t, b, topic, &got, broker.Durable(durable), broker.CreateStream())
			msgs := got.WaitFor(t, 5)
			for i, m := range msgs {
				if string(m.Body) != strconv.Itoa(i) || m.Stream != stream || m.Sequence == 0 {
					t.Errorf("message %d: want body %d from stream %s, have %q from %q seq %d", i, i, stream, m.Body, m.Stream, m.Sequence)
				}
			}
			if err := sub.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			// Acknowledged: nothing pending, nothing to deliver again.
			testutil.Eventually(t, brokertest.Wait, func() error {
				cons, err := js.PushConsumer(ctx, stream, durable)
				if err != nil {
					return err
				}
				info, err := cons.Info(ctx)
				if err != nil {
					return err
				}
				if info.NumAckPending != 0 || info.AckFloor.Consumer < 5 {
					return errors.New("messages not acknowledged yet: " + strconv.Itoa(info.NumAckPending) + " pending")
				}
				return nil
			})
		})
	}

	t.Run("push consumer without a deliver group, bound already", func(t *testing.T) {
		topic := root + ".bound"
		_, err := js.CreateOrUpdatePushConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: "bound", DeliverSubject: "deliver.bound", FilterSubject: topic, AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatal(err)
		}
		var first brokertest.Collector
		brokertest.Subscribe(t, newBroker(t, srv.URL()), topic, &first, broker.Durable("bound"))
		var second brokertest.Collector
		_, err = newBroker(t, srv.URL()).Subscribe(ctx, topic, &second, broker.Durable("bound"))
		if err == nil || !strings.Contains(err.Error(), `push consumer delivering to "deliver.bound", which another subscriber consumes already`) {
			t.Errorf("want an error saying the push consumer is taken, have %v", err)
		}
	})

	t.Run("push consumer of another topic", func(t *testing.T) {
		_, err := js.CreateOrUpdatePushConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: "elsewhere", DeliverSubject: "deliver.elsewhere", FilterSubject: root + ".other", AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatal(err)
		}
		b := newBroker(t, srv.URL())
		var c brokertest.Collector
		_, err = b.Subscribe(ctx, root+".mine", &c, broker.Durable("elsewhere"), broker.CreateStream())
		if err == nil || !strings.Contains(err.Error(), `follows "`+root+`.other"`) || !strings.Contains(err.Error(), "nats consumer rm") {
			t.Errorf("want an error naming what the consumer follows and what to do, have %v", err)
		}
	})
}

// TestStreamWithoutTheTopic: a stream named for a durable subscription or a
// JetStream publish that does not store the topic is an error that says so
// (ErrNoStream), not a subscription that waits forever or a publish that
// says the stream does not exist.
func TestStreamWithoutTheTopic(t *testing.T) {
	srv := testenv.NATS(t)
	ctx := brokertest.Context(t)
	b := newBroker(t, srv.URL())
	root := brokertest.UniqueTopic(t, "held")
	stream := strings.ReplaceAll(strings.ToUpper(root), ".", "_")
	// The stream exists, for root.>; the topics below are elsewhere.
	brokertest.Publish(t, b, root+".a", &broker.Message{Body: []byte("x")}, broker.JetStream(), broker.Stream(stream, root+".>"), broker.CreateStream())
	other := brokertest.UniqueTopic(t, "elsewhere")

	handler := broker.HandlerFunc(func(context.Context, *broker.Message) error { return nil })
	checks := []struct {
		name string
		err  func() error
	}{
		{"subscribe, stream created", func() error {
			_, err := b.Subscribe(ctx, other, handler, broker.Durable("d1"), broker.Stream(stream), broker.CreateStream())
			return err
		}},
		{"subscribe", func() error {
			_, err := b.Subscribe(ctx, other, handler, broker.Durable("d2"), broker.Stream(stream))
			return err
		}},
		{"publish, stream created", func() error {
			return b.Publish(ctx, other, &broker.Message{Body: []byte("x")}, broker.JetStream(), broker.Stream(stream), broker.CreateStream())
		}},
		{"publish", func() error {
			return b.Publish(ctx, other, &broker.Message{Body: []byte("x")}, broker.JetStream(), broker.Stream(stream))
		}},
		{"publish on a new broker", func() error {
			return newBroker(t, srv.URL()).Publish(ctx, other, &broker.Message{Body: []byte("x")}, broker.JetStream(), broker.Stream(stream))
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			want := `stream "` + stream + `" in nats at ` + srv.URL() + ` does not store topic "` + other + `" (its subjects: ` + root + `.>)`
			if !errors.Is(err, broker.ErrNoStream) || !strings.Contains(err.Error(), want) {
				t.Errorf("want ErrNoStream saying %q, have %v", want, err)
			}
		})
	}

	// Topics the stream stores, wildcards included, are fine; ">" needs a
	// token, so the root itself is not stored.
	for i, topic := range []string{root + ".b", root + ".*", root + ".>", root + ".x.y", ">", root, root + ".*.z.>"} {
		sub, err := b.Subscribe(ctx, topic, handler, broker.Durable("ok"+strconv.Itoa(i)), broker.Stream(stream))
		if stored := topic != root; stored != (err == nil) {
			t.Errorf("subscribe %s on %s (subjects %s.>): want stored=%v, have %v", topic, stream, root, stored, err)
		}
		if err == nil {
			_ = sub.Unsubscribe()
		}
	}
}
