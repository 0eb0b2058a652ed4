package nats_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
	natsbroker "github.com/microtools/micro/pkg/broker/nats"
)

func TestStreamName(t *testing.T) {
	for topic, want := range map[string]string{
		"orders.created": "ORDERS_CREATED",
		"orders.>":       "ORDERS_ALL",
		"a.*.b":          "A_ANY_B",
		"greeter":        "GREETER",
	} {
		if have := natsbroker.StreamName(topic); have != want {
			t.Errorf("StreamName(%q): want %q, have %q", topic, want, have)
		}
	}
}

func TestJetStreamPublish(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	ctx := brokertest.Context(t)
	topic := brokertest.UniqueTopic(t, "js")
	msg := &broker.Message{Header: broker.Header{"Content-Type": {"application/json"}}, Body: []byte(`{}`)}

	err := b.Publish(ctx, topic, msg, broker.JetStream())
	if !errors.Is(err, broker.ErrNoStream) || !strings.Contains(err.Error(), strconv.Quote(topic)) {
		t.Fatalf("no stream: want ErrNoStream naming the topic, have %v", err)
	}

	for i := 1; i <= 2; i++ {
		var ack broker.PublishAck
		if err := b.Publish(ctx, topic, msg, broker.AckTo(&ack), broker.CreateStream()); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		want := broker.PublishAck{Stream: natsbroker.StreamName(topic), Sequence: uint64(i)}
		if ack != want {
			t.Errorf("publish %d: want ack %+v, have %+v", i, want, ack)
		}
	}
	// Now the stream exists, plain JetStream publishing finds it.
	var ack broker.PublishAck
	if err := b.Publish(ctx, topic, msg, broker.AckTo(&ack)); err != nil || ack.Sequence != 3 {
		t.Fatalf("publish to the existing stream: ack %+v, %v", ack, err)
	}

	// Headers are stored as sent.
	js, err := jetstream.New(bareConn(t, srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, ack.Stream)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Header.Get("Content-Type") != "application/json" || string(stored.Data) != "{}" {
		t.Errorf("stored header %v data %q", stored.Header, stored.Data)
	}

	// A named stream: created with its subjects, checked on publish.
	named := strings.ReplaceAll(brokertest.UniqueTopic(t, "NAMED"), ".", "_")
	root := brokertest.UniqueTopic(t, "named")
	if err := b.Publish(ctx, root+".a", msg, broker.AckTo(&ack), broker.Stream(named, root+".>"), broker.CreateStream()); err != nil {
		t.Fatal(err)
	}
	if ack.Stream != named || ack.Sequence != 1 {
		t.Errorf("want %s sequence 1, have %+v", named, ack)
	}
	err = b.Publish(ctx, topic, msg, broker.JetStream(), broker.Stream(named))
	if !errors.Is(err, broker.ErrNoStream) || !strings.Contains(err.Error(), named) {
		t.Errorf("publish to a topic the named stream does not store: want ErrNoStream naming %s, have %v", named, err)
	}
	err = b.Publish(ctx, topic, msg, broker.JetStream(), broker.Stream("MISSING"))
	if !errors.Is(err, broker.ErrNoStream) {
		t.Errorf("publish to a missing stream: want ErrNoStream, have %v", err)
	}
	if err := b.Publish(ctx, topic, msg, broker.Stream(named)); err == nil {
		t.Error("a stream option without JetStream: want an error")
	}
}

// TestDurableResume stops a durable subscriber, publishes 1,000 messages
// while it is away, and checks that the subscriber that comes back gets
// every one of them.
func TestDurableResume(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	ctx := brokertest.Context(t)
	topic := brokertest.UniqueTopic(t, "durable")
	opts := []broker.SubscribeOption{broker.Durable("worker"), broker.CreateStream()}

	var first brokertest.Collector
	sub := brokertest.Subscribe(t, b, topic, &first, opts...)
	if sub.Queue() != "worker" {
		t.Errorf("want the durable name as the queue, have %q", sub.Queue())
	}
	for i := range 10 {
		brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("early-" + strconv.Itoa(i))}, broker.JetStream())
	}
	first.WaitFor(t, 10)
	if err := sub.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}

	const away = 1000
	publisher := newBroker(t, srv.URL())
	for i := range away {
		brokertest.Publish(t, publisher, topic, &broker.Message{Body: []byte(strconv.Itoa(i))}, broker.JetStream())
	}
	var back brokertest.Collector
	brokertest.Subscribe(t, newBroker(t, srv.URL()), topic, &back, append(opts, broker.Concurrency(4))...)
	msgs := back.WaitFor(t, away)
	seen := make(map[string]bool, away)
	for _, m := range msgs {
		if strings.HasPrefix(string(m.Body), "early-") {
			t.Errorf("message %q delivered again after it was acknowledged", m.Body)
		}
		seen[string(m.Body)] = true
		if m.Stream != natsbroker.StreamName(topic) || m.Sequence == 0 || m.Deliveries == 0 {
			t.Errorf("message %q lacks its stream position: %+v", m.Body, m)
		}
	}
	for i := range away {
		if !seen[strconv.Itoa(i)] {
			t.Errorf("message %d missed", i)
		}
	}
	if first.Len() != 10 {
		t.Errorf("the stopped subscriber got %d messages after it stopped", first.Len()-10)
	}
}

// TestDurableQueue: subscribers sharing a durable name, each on its own
// connection, share the messages.
func TestDurableQueue(t *testing.T) {
	srv := testenv.NATS(t)
	topic := brokertest.UniqueTopic(t, "durableq")
	members := make([]*brokertest.Collector, 3)
	for i := range members {
		members[i] = &brokertest.Collector{}
		brokertest.Subscribe(t, newBroker(t, srv.URL()), topic, members[i],
			broker.Durable("shared"), broker.Queue("shared"), broker.CreateStream())
	}
	b := newBroker(t, srv.URL())
	const n = 300
	for i := range n {
		brokertest.Publish(t, b, topic, &broker.Message{Body: []byte(strconv.Itoa(i))}, broker.JetStream())
	}
	testutil.Eventually(t, brokertest.Wait, func() error {
		total := 0
		for _, m := range members {
			total += m.Len()
		}
		if total < n {
			return fmt.Errorf("%d of %d delivered", total, n)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // let any duplicate arrive
	count := map[string]int{}
	for _, m := range members {
		for _, msg := range m.Messages() {
			count[string(msg.Body)]++
		}
	}
	for i := range n {
		if c := count[strconv.Itoa(i)]; c != 1 {
			t.Errorf("message %d delivered %d times", i, c)
		}
	}
}

// TestDurableRedelivery: an error asks for the message again, an error
// wrapping ErrUnprocessable drops it.
func TestDurableRedelivery(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	topic := brokertest.UniqueTopic(t, "redeliver")
	var mu sync.Mutex
	deliveries := map[string][]uint64{}
	brokertest.Subscribe(t, b, topic, broker.HandlerFunc(func(_ context.Context, msg *broker.Message) error {
		mu.Lock()
		deliveries[string(msg.Body)] = append(deliveries[string(msg.Body)], msg.Deliveries)
		mu.Unlock()
		switch {
		case string(msg.Body) == "poison":
			return fmt.Errorf("cannot decode: %w", broker.ErrUnprocessable)
		case msg.Deliveries < 3:
			return errors.New("not yet")
		}
		return nil
	}), broker.Durable("retry"), broker.CreateStream())
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("poison")}, broker.JetStream())
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("flaky")}, broker.JetStream())
	testutil.Eventually(t, brokertest.Wait, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(deliveries["flaky"]) < 3 {
			return fmt.Errorf("deliveries so far: %v", deliveries)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a redelivery would come within this
	mu.Lock()
	defer mu.Unlock()
	if have := fmt.Sprint(deliveries["flaky"]); have != "[1 2 3]" {
		t.Errorf("flaky: want deliveries [1 2 3], have %s", have)
	}
	if have := fmt.Sprint(deliveries["poison"]); have != "[1]" {
		t.Errorf("poison: want one delivery, have %s", have)
	}
}

func TestDurableErrors(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	ctx := brokertest.Context(t)
	topic := brokertest.UniqueTopic(t, "durerr")
	var c brokertest.Collector

	_, err := b.Subscribe(ctx, topic, &c, broker.Durable("d"))
	if !errors.Is(err, broker.ErrNoStream) || !strings.Contains(err.Error(), strconv.Quote(topic)) {
		t.Errorf("no stream: want ErrNoStream naming the topic, have %v", err)
	}
	_, err = b.Subscribe(ctx, topic, &c, broker.Durable("d"), broker.Stream("MISSING"))
	if !errors.Is(err, broker.ErrNoStream) || !strings.Contains(err.Error(), "MISSING") {
		t.Errorf("missing named stream: want ErrNoStream naming it, have %v", err)
	}
	root := brokertest.UniqueTopic(t, "durerr")
	brokertest.Subscribe(t, b, root+".a", &c, broker.Durable("d"), broker.Stream(strings.ReplaceAll(root, ".", "_"), root+".>"), broker.CreateStream())
	_, err = b.Subscribe(ctx, root+".b", &c, broker.Durable("d"))
	if err == nil || !strings.Contains(err.Error(), root+".a") {
		t.Errorf("durable reused for another topic: want an error naming the topic it follows, have %v", err)
	}
	if _, err := b.Subscribe(ctx, topic, &c, broker.DeliverNew()); err == nil {
		t.Error("DeliverNew without Durable: want an error")
	}
}

// TestDurableAcrossServerRestart: a durable subscription keeps consuming
// after the server restarts.
func TestDurableAcrossServerRestart(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL(), natsbroker.WithReconnectWait(50*time.Millisecond))
	topic := brokertest.UniqueTopic(t, "durrestart")
	var c brokertest.Collector
	brokertest.Subscribe(t, b, topic, &c, broker.Durable("r"), broker.CreateStream())
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("before")}, broker.JetStream())
	c.WaitFor(t, 1)
	srv.Restart(t)
	var published atomic.Bool
	testutil.Eventually(t, brokertest.Wait, func() error {
		if !published.Load() {
			if err := b.Publish(brokertest.Context(t), topic, &broker.Message{Body: []byte("after")}, broker.JetStream()); err != nil {
				return err
			}
			published.Store(true)
		}
		if c.Len() < 2 {
			return errors.New("not delivered yet")
		}
		return nil
	})
}

// TestDurableSlowHandlerKeepsItsMessage: a handler that runs longer than the
// ack wait reports progress, so its message is not delivered again meanwhile.
func TestDurableSlowHandlerKeepsItsMessage(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	topic := brokertest.UniqueTopic(t, "slowack")
	var calls atomic.Int32
	done := make(chan struct{})
	brokertest.Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) error {
		if calls.Add(1) == 1 {
			time.Sleep(2500 * time.Millisecond) // 2.5 ack waits
			close(done)
		}
		return nil
	}), broker.Durable("slow"), broker.AckWait(time.Second), broker.Concurrency(2), broker.CreateStream())
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("x")}, broker.JetStream())
	select {
	case <-done:
	case <-time.After(brokertest.Wait):
		t.Fatal("handler did not finish")
	}
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Errorf("want one delivery, have %d: the message was delivered again while it was being handled", n)
	}
}
