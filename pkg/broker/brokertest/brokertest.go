// Package brokertest is the contract every broker.Broker passes: the same
// cases run against the memory broker and against NATS.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
)

// Wait bounds how long a case waits for deliveries.
const Wait = 20 * time.Second

// Run runs the contract against brokers made by newBroker. Each case uses
// topics of its own, so brokers may share a server.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, b broker.Broker)
	}{
		{"RoundTrip", testRoundTrip},
		{"Wildcards", testWildcards},
		{"EverySubscriberGetsEveryMessage", testFanOut},
		{"QueueGroupSharesMessages", testQueueGroup},
		{"InvalidTopic", testInvalidTopic},
		{"Unsubscribe", testUnsubscribe},
		{"UnsubscribeFromHandler", testUnsubscribeFromHandler},
		{"Drain", testDrain},
		{"ConcurrencyBound", testConcurrency},
		{"SlowHandlerHoldsUpOnlyItsSubscription", testSlowHandler},
		{"Close", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newBroker(t))
		})
	}
}

// UniqueTopic returns a topic no other case uses: prefix, a dot and a random
// token.
func UniqueTopic(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "." + hex.EncodeToString(b)
}

// Context returns a context that ends with the test or after a minute.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Subscribe subscribes and unsubscribes when t ends.
func Subscribe(t testing.TB, b broker.Broker, topic string, h broker.Handler, opts ...broker.SubscribeOption) broker.Subscription {
	t.Helper()
	sub, err := b.Subscribe(Context(t), topic, h, opts...)
	if err != nil {
		t.Fatalf("subscribe to %q: %v", topic, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

// Publish publishes or fails the test.
func Publish(t testing.TB, b broker.Broker, topic string, msg *broker.Message, opts ...broker.PublishOption) {
	t.Helper()
	if err := b.Publish(Context(t), topic, msg, opts...); err != nil {
		t.Fatalf("publish to %q: %v", topic, err)
	}
}

// Collector is a handler that keeps what it receives.
type Collector struct {
	mu   sync.Mutex
	msgs []*broker.Message
}

// Handle implements broker.Handler.
func (c *Collector) Handle(_ context.Context, msg *broker.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, msg.Clone())
	return nil
}

// Messages returns what was received so far.
func (c *Collector) Messages() []*broker.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// Len is how many messages were received.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// WaitFor waits until n messages were received and returns them.
func (c *Collector) WaitFor(t testing.TB, n int) []*broker.Message {
	t.Helper()
	testutil.Eventually(t, Wait, func() error {
		if have := c.Len(); have < n {
			return fmt.Errorf("want %d messages, have %d", n, have)
		}
		return nil
	})
	return c.Messages()
}

// Quiet checks that no more than n messages arrive within d.
func (c *Collector) Quiet(t testing.TB, n int, d time.Duration) {
	t.Helper()
	time.Sleep(d) // asserting that nothing happens needs to wait
	if have := c.Len(); have > n {
		t.Fatalf("want %d messages, have %d: %v", n, have, c.Messages())
	}
}

func text(s string) *broker.Message {
	return &broker.Message{Header: broker.Header{broker.HeaderContentType: {"text/plain"}}, Body: []byte(s)}
}

func testRoundTrip(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "roundtrip")
	var c Collector
	Subscribe(t, b, topic, &c)
	before := time.Now()
	msg := &broker.Message{
		Header: broker.Header{
			broker.HeaderContentType: {"application/json"},
			"X-Trace":                {"a", "b"},
			"lower-case":             {"kept"},
		},
		Body: []byte(`{"id":7}`),
	}
	Publish(t, b, topic, msg)
	msg.Body[0] = 'X' // the broker must not keep the caller's bytes
	have := c.WaitFor(t, 1)[0]
	if string(have.Body) != `{"id":7}` {
		t.Errorf("want body %q, have %q", `{"id":7}`, have.Body)
	}
	if have.Topic != topic {
		t.Errorf("want topic %q, have %q", topic, have.Topic)
	}
	if have.ContentType() != "application/json" {
		t.Errorf("want content type application/json, have %q", have.ContentType())
	}
	if vs := have.Header.Values("X-Trace"); !slices.Equal(vs, []string{"a", "b"}) {
		t.Errorf("want X-Trace [a b], have %v", vs)
	}
	if v := have.Header.Get("lower-case"); v != "kept" {
		t.Errorf("want lower-case header kept, have %q (headers %v)", v, have.Header)
	}
	if have.ReceivedAt.Before(before) || have.ReceivedAt.After(time.Now()) {
		t.Errorf("received at %s, not between publishing and now", have.ReceivedAt)
	}
}

func testWildcards(t *testing.T, b broker.Broker) {
	root := UniqueTopic(t, "wild")
	var star, tail, exact Collector
	Subscribe(t, b, root+".*.created", &star)
	Subscribe(t, b, root+".>", &tail)
	Subscribe(t, b, root+".orders.created", &exact)
	for _, topic := range []string{root + ".orders.created", root + ".users.created", root + ".orders.created.eu", root + ".orders"} {
		Publish(t, b, topic, text(topic))
	}
	Publish(t, b, root, text("root only")) // ">" needs at least one more token
	tail.WaitFor(t, 4)
	star.WaitFor(t, 2)
	exact.WaitFor(t, 1)
	tail.Quiet(t, 4, 100*time.Millisecond)
	star.Quiet(t, 2, 0)
	exact.Quiet(t, 1, 0)
	topics := func(c *Collector) []string {
		var out []string
		for _, m := range c.Messages() {
			out = append(out, m.Topic)
		}
		slices.Sort(out)
		return out
	}
	if have, want := topics(&star), []string{root + ".orders.created", root + ".users.created"}; !slices.Equal(have, want) {
		t.Errorf("*: want %v, have %v", want, have)
	}
}

func testFanOut(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "fanout")
	var c1, c2 Collector
	Subscribe(t, b, topic, &c1)
	Subscribe(t, b, topic, &c2)
	for i := range 10 {
		Publish(t, b, topic, text(strconv.Itoa(i)))
	}
	c1.WaitFor(t, 10)
	c2.WaitFor(t, 10)
}

// QueueGroupMessages is how many messages the queue group case publishes.
const QueueGroupMessages = 300

func testQueueGroup(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "queue")
	members := make([]*Collector, 3)
	for i := range members {
		members[i] = &Collector{}
		Subscribe(t, b, topic, members[i], broker.Queue("workers"))
	}
	var outsider Collector
	Subscribe(t, b, topic, &outsider) // not in the group: gets everything
	for i := range QueueGroupMessages {
		Publish(t, b, topic, text(strconv.Itoa(i)))
	}
	outsider.WaitFor(t, QueueGroupMessages)
	seen := map[string]int{}
	testutil.Eventually(t, Wait, func() error {
		total := 0
		for _, m := range members {
			total += m.Len()
		}
		if total < QueueGroupMessages {
			return fmt.Errorf("the group has %d of %d messages", total, QueueGroupMessages)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // let any duplicate arrive
	for i, m := range members {
		if m.Len() == 0 {
			t.Errorf("member %d got nothing", i)
		}
		for _, msg := range m.Messages() {
			seen[string(msg.Body)]++
		}
	}
	for i := range QueueGroupMessages {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("message %d reached the group %d times, want exactly once", i, n)
		}
	}
}

func testInvalidTopic(t *testing.T, b broker.Broker) {
	root := UniqueTopic(t, "invalid")
	var c Collector
	Subscribe(t, b, root+".>", &c)
	for _, topic := range []string{"", root + ". x", root + "..x", root + ".x.", root + ".*", root + ".>", root + ".a b"} {
		err := b.Publish(Context(t), topic, text("no"))
		if !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("publish to %q: want ErrInvalidTopic, have %v", topic, err)
		}
	}
	for _, pattern := range []string{"", "a..b", ">.a", "a.>.b", "a*", "a b", "a.\tb"} {
		if _, err := b.Subscribe(Context(t), pattern, &c); !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("subscribe to %q: want ErrInvalidTopic, have %v", pattern, err)
		}
	}
	Publish(t, b, root+".valid", text("yes"))
	msgs := c.WaitFor(t, 1)
	c.Quiet(t, 1, 100*time.Millisecond)
	if string(msgs[0].Body) != "yes" {
		t.Errorf("want only the valid message, have %q", msgs[0].Body)
	}
}

func testUnsubscribe(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "unsub")
	var c, control Collector
	sub := Subscribe(t, b, topic, &c)
	Subscribe(t, b, topic, &control)
	if sub.Topic() != topic || sub.Queue() != "" {
		t.Errorf("want topic %q and no queue, have %q and %q", topic, sub.Topic(), sub.Queue())
	}
	Publish(t, b, topic, text("1"))
	c.WaitFor(t, 1)
	if err := sub.Unsubscribe(); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Errorf("second unsubscribe: %v", err)
	}
	Publish(t, b, topic, text("2"))
	control.WaitFor(t, 2)
	c.Quiet(t, 1, 100*time.Millisecond)
}

func testUnsubscribeFromHandler(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "unsubself")
	var calls atomic.Int32
	var sub broker.Subscription
	ready := make(chan struct{})
	done := make(chan error, 1)
	sub = Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		<-ready
		if calls.Add(1) == 1 {
			done <- sub.Unsubscribe()
		}
		return nil
	}))
	close(ready)
	Publish(t, b, topic, text("1"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("unsubscribe from the handler: %v", err)
		}
	case <-time.After(Wait):
		t.Fatal("unsubscribing from the handler did not return")
	}
}

func testDrain(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "drain")
	release := make(chan struct{})
	var handled atomic.Int32
	sub := Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		<-release
		handled.Add(1)
		return nil
	}))
	const n = 20
	for i := range n {
		Publish(t, b, topic, text(strconv.Itoa(i)))
	}
	// Let the messages reach the subscription before draining.
	var probe Collector
	Subscribe(t, b, topic, &probe)
	Publish(t, b, topic, text("probe"))
	probe.WaitFor(t, 1)

	drained := make(chan error, 1)
	go func() { drained <- sub.Drain(Context(t)) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
	case <-time.After(Wait):
		t.Fatal("drain did not return")
	}
	if have := handled.Load(); have != n+1 {
		t.Errorf("want all %d messages handled by the time Drain returns, have %d", n+1, have)
	}

	// A drain that runs out of time stops the subscription and says so.
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	stuck := Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}))
	Publish(t, b, topic, text("stuck"))
	Publish(t, b, topic, text("probe2"))
	probe.WaitFor(t, 2)
	ctx, cancel := context.WithTimeout(Context(t), 200*time.Millisecond)
	defer cancel()
	if err := stuck.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("drain past its deadline: want DeadlineExceeded, have %v", err)
	}
}

func testConcurrency(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "concurrency")
	const limit, n = 3, 30
	var running, peak, handled atomic.Int32
	Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		now := running.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		handled.Add(1)
		return nil
	}), broker.Concurrency(limit))
	for i := range n {
		Publish(t, b, topic, text(strconv.Itoa(i)))
	}
	testutil.Eventually(t, Wait, func() error {
		if have := handled.Load(); have < n {
			return fmt.Errorf("%d of %d handled", have, n)
		}
		return nil
	})
	if p := peak.Load(); p > limit || p < 2 {
		t.Errorf("want between 2 and %d handlers at once, have a peak of %d", limit, p)
	}
}

func testSlowHandler(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "slow")
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}))
	var fast Collector
	Subscribe(t, b, topic, &fast)
	const n = 200
	for i := range n {
		Publish(t, b, topic, text(strconv.Itoa(i)))
	}
	fast.WaitFor(t, n)
}

func testClose(t *testing.T, b broker.Broker) {
	topic := UniqueTopic(t, "close")
	var c Collector
	gotCtx := make(chan context.Context, 1)
	Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) error {
		gotCtx <- ctx
		return c.Handle(ctx, msg)
	}))
	Publish(t, b, topic, text("1"))
	c.WaitFor(t, 1)
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	select {
	case ctx := <-gotCtx:
		if ctx.Err() == nil {
			t.Error("the handler's context did not end on Close")
		}
	default:
		t.Error("handler never called")
	}
	if err := b.Publish(Context(t), topic, text("2")); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("publish after close: want ErrClosed, have %v", err)
	}
	if _, err := b.Subscribe(Context(t), topic, &c); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("subscribe after close: want ErrClosed, have %v", err)
	}
}
