package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
	"github.com/microtools/micro/pkg/broker/rabbitmq"
)

// shared is the RabbitMQ node of the package's tests, or nil with the reason
// in sharedErr. Tests that restart the node start their own.
var (
	shared    *testenv.RabbitMQServer
	sharedErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "micro-rabbitmq-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, sharedErr = testenv.NewRabbitMQ(dir)
	if shared != nil {
		defer shared.Stop()
	}
	return m.Run()
}

// server returns the shared node, or skips (fails in CI) without one.
func server(t *testing.T) *testenv.RabbitMQServer {
	t.Helper()
	if sharedErr != nil {
		testenv.RabbitMQUnavailable(t, sharedErr)
	}
	return shared
}

// newBroker connects a broker to url and closes it when t ends.
func newBroker(t testing.TB, url string, opts ...rabbitmq.Option) *rabbitmq.Broker {
	t.Helper()
	b, err := rabbitmq.New(brokertest.Context(t), append([]rabbitmq.Option{rabbitmq.WithURL(url)}, opts...)...)
	if err != nil {
		t.Fatalf("new broker at %s: %v", url, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	srv := server(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker { return newBroker(t, srv.URL()) })
}

func TestBindingKey(t *testing.T) {
	cases := []struct {
		pattern, want, wantErr string
	}{
		{"orders.created", "orders.created", ""},
		{"orders.*", "orders.*", ""},
		{"orders.>", "orders.*.#", ""},
		{">", "*.#", ""},
		{"*.created.>", "*.created.*.#", ""},
		{"orders.#", "", `"#" is a wildcard in AMQP`},
		{"a#b.c", "a#b.c", ""},
		{"orders..x", "", "empty token"},
		{"orders.>.x", "", "before the last token"},
	}
	for _, c := range cases {
		have, err := rabbitmq.BindingKey(c.pattern)
		switch {
		case c.wantErr != "":
			if !errors.Is(err, broker.ErrInvalidTopic) || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: want ErrInvalidTopic about %q, have %v", c.pattern, c.wantErr, err)
			}
		case err != nil || have != c.want:
			t.Errorf("%q: want %q, have %q, %v", c.pattern, c.want, have, err)
		}
	}
	if have := rabbitmq.QueueName("billing", "orders.>"); have != "billing:orders.>" {
		t.Errorf("queue name: have %q", have)
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestNewFails: New fails fast with an error that says what and where, and
// never shows the password.
func TestNewFails(t *testing.T) {
	srv := server(t)
	a, b := freeAddress(t), freeAddress(t)
	cases := []struct {
		name     string
		url      string
		sentinel error
		want     string
	}{
		{"unreachable", "amqp://ada:secret@" + a + "/", broker.ErrUnreachable,
			"rabbitmq broker: cannot reach rabbitmq at amqp://" + a + "/: connection refused"},
		{"host:port", a, broker.ErrUnreachable, "cannot reach rabbitmq at amqp://" + a + "/: connection refused"},
		{"every server of a list", "amqp://ada:secret@" + a + "/, " + b, broker.ErrUnreachable,
			"cannot reach rabbitmq at any of amqp://" + a + "/,amqp://" + b + "/: connection refused"},
		{"wrong password", srv.URLWith(srv.User(), "secret"), broker.ErrAuth,
			"rabbitmq broker: rabbitmq at amqp://" + srv.Addr() + "/ refused the credentials of user \"micro\""},
		{"unknown virtual host", "amqp://" + srv.User() + ":" + srv.Password() + "@" + srv.Addr() + "/nosuch", broker.ErrAuth,
			"refused virtual host \"nosuch\" for user \"micro\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			b, err := rabbitmq.New(brokertest.Context(t), rabbitmq.WithURL(c.url))
			if err == nil {
				_ = b.Close()
				t.Fatal("want an error")
			}
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want %v with %q, have %v", c.sentinel, c.want, err)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), srv.Password()) {
				t.Errorf("the error shows a password: %v", err)
			}
			if took := time.Since(start); took > 5*time.Second { // RabbitMQ answers a refused login after about 3s
				t.Errorf("took %s, want fast", took)
			}
		})
	}
	for _, url := range []string{"http://" + srv.Addr(), "amqp://[::1"} {
		if _, err := rabbitmq.New(brokertest.Context(t), rabbitmq.WithURL(url)); err == nil || !strings.Contains(err.Error(), "server url") {
			t.Errorf("%s: want a bad-url error, have %v", url, err)
		}
	}
	// The user and password options replace the URL's.
	b2 := newBroker(t, "amqp://nobody:wrong@"+srv.Addr()+"/", rabbitmq.WithUserInfo(srv.User(), srv.Password()))
	if !strings.Contains(b2.String(), "rabbitmq at amqp://"+srv.Addr()+"/ (exchange micro)") {
		t.Errorf("String: have %q", b2.String())
	}
}

// TestInterop: a plain AMQP client's messages arrive with their headers
// (non-string values as text, the content-type property as Content-Type),
// and micro's reach a plain consumer with AMQP headers and properties.
func TestInterop(t *testing.T) {
	srv := server(t)
	b := newBroker(t, srv.URL())
	topic := brokertest.UniqueTopic(t, "interop")
	var c brokertest.Collector
	brokertest.Subscribe(t, b, topic, &c)

	ch, err := srv.Dial(t).Channel()
	if err != nil {
		t.Fatal(err)
	}
	ctx := brokertest.Context(t)
	if err := ch.PublishWithContext(ctx, "micro", topic, false, false, amqp.Publishing{
		ContentType: "application/json",
		Headers:     amqp.Table{"Retries": int32(3), "Urgent": true, "Tags": []any{"a", "b"}, "Raw": []byte("bytes")},
		Body:        []byte(`{"id":1}`),
	}); err != nil {
		t.Fatal(err)
	}
	m := c.WaitFor(t, 1)[0]
	want := broker.Header{"Content-Type": {"application/json"}, "Retries": {"3"}, "Urgent": {"true"}, "Tags": {"a", "b"}, "Raw": {"bytes"}}
	if fmt.Sprint(m.Header) != fmt.Sprint(want) || string(m.Body) != `{"id":1}` || m.Topic != topic {
		t.Errorf("want %v, have %v %q %q", want, m.Header, m.Body, m.Topic)
	}

	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, topic, "micro", false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Publish(t, b, topic, &broker.Message{Header: broker.Header{"Content-Type": {"text/plain"}, "X-Trace": {"a", "b"}}, Body: []byte("hi")})
	select {
	case d := <-deliveries:
		if d.ContentType != "text/plain" || d.Headers["Content-Type"] != "text/plain" || fmt.Sprint(d.Headers["X-Trace"]) != "[a b]" ||
			d.DeliveryMode != amqp.Persistent || string(d.Body) != "hi" || d.Exchange != "micro" {
			t.Errorf("plain consumer: have %+v", d)
		}
	case <-time.After(brokertest.Wait):
		t.Fatal("the plain consumer got nothing")
	}
}

// TestOptionsRabbitMQHasNot: what JetStream alone offers fails clearly.
func TestOptionsRabbitMQHasNot(t *testing.T) {
	b := newBroker(t, server(t).URL())
	topic := brokertest.UniqueTopic(t, "unsupported")
	msg := &broker.Message{Body: []byte("x")}
	if err := b.Publish(brokertest.Context(t), topic, msg, broker.JetStream()); !errors.Is(err, broker.ErrNotSupported) || !strings.Contains(err.Error(), "broker.Confirm") {
		t.Errorf("jetstream: want ErrNotSupported naming Confirm, have %v", err)
	}
	if _, err := b.Subscribe(brokertest.Context(t), topic, &brokertest.Collector{}, broker.Durable("d"), broker.Stream("S")); !errors.Is(err, broker.ErrNotSupported) {
		t.Errorf("stream: want ErrNotSupported, have %v", err)
	}
	// Ignored, as documented: a durable queue is always made.
	brokertest.Subscribe(t, b, topic, &brokertest.Collector{}, broker.Durable("d"), broker.CreateStream(), broker.DeliverNew(), broker.AckWait(time.Second))
}

// TestConfirm: a confirmed publish to a topic nobody is bound for says so;
// one that a queue takes returns nil.
func TestConfirm(t *testing.T) {
	b := newBroker(t, server(t).URL())
	topic := brokertest.UniqueTopic(t, "confirm")
	err := b.Publish(brokertest.Context(t), topic, &broker.Message{Body: []byte("1")}, broker.Confirm())
	if !errors.Is(err, broker.ErrNoStream) || !strings.Contains(err.Error(), "no queue is bound for topic") {
		t.Errorf("nobody bound: want ErrNoStream, have %v", err)
	}
	var c brokertest.Collector
	brokertest.Subscribe(t, b, topic, &c, broker.Durable("confirm"))
	for i := range 50 {
		brokertest.Publish(t, b, topic, &broker.Message{Body: []byte(strconv.Itoa(i))}, broker.Confirm())
	}
	c.WaitFor(t, 50)
}

// TestDurableRedelivery: a durable queue gets a failed message again, and
// drops one the handler cannot process; a plain subscription drops both.
func TestDurableRedelivery(t *testing.T) {
	b := newBroker(t, server(t).URL())
	topic := brokertest.UniqueTopic(t, "redeliver")
	var calls atomic.Int32
	var deliveries []uint64
	var mu sync.Mutex
	brokertest.Subscribe(t, b, topic, broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) error {
		mu.Lock()
		deliveries = append(deliveries, msg.Deliveries)
		mu.Unlock()
		switch n := calls.Add(1); {
		case string(msg.Body) == "bad":
			return fmt.Errorf("cannot decode: %w", broker.ErrUnprocessable)
		case n == 1:
			return errors.New("try again")
		}
		return nil
	}), broker.Durable("redeliver"))
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("flaky")}, broker.Confirm())
	testutil.Eventually(t, brokertest.Wait, func() error {
		if n := calls.Load(); n < 2 {
			return fmt.Errorf("%d calls", n)
		}
		return nil
	})
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("bad")}, broker.Confirm())
	time.Sleep(1500 * time.Millisecond) // a redelivery of "bad" would come within this
	if n := calls.Load(); n != 3 {
		t.Errorf("want 3 calls (flaky twice, bad once), have %d", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deliveries) < 2 || deliveries[0] != 1 || deliveries[1] != 2 {
		t.Errorf("want deliveries 1 then 2 for the flaky message, have %v", deliveries)
	}
}

// TestReconnect restarts RabbitMQ under a broker with a plain, a queue group
// and a durable subscription: the event handler hears of the disconnect and
// the reconnect, every subscription works again, and the durable queue is there again.
func TestReconnect(t *testing.T) {
	srv := testenv.RabbitMQ(t) // its own: it restarts
	var mu sync.Mutex
	var events []string
	b := newBroker(t, srv.URL(), rabbitmq.WithReconnectWait(100*time.Millisecond), rabbitmq.WithEventHandler(func(ev broker.Event) {
		mu.Lock()
		events = append(events, ev.String())
		mu.Unlock()
	}))
	topic := brokertest.UniqueTopic(t, "reconnect")
	var plain, group, durable brokertest.Collector
	brokertest.Subscribe(t, b, topic, &plain)
	brokertest.Subscribe(t, b, topic, &group, broker.Queue("g"))
	brokertest.Subscribe(t, b, topic, &durable, broker.Durable("d"))
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("before")}, broker.Confirm())
	plain.WaitFor(t, 1)
	group.WaitFor(t, 1)
	durable.WaitFor(t, 1)

	srv.Restart(t)
	addr := "amqp://" + srv.Addr() + "/"
	testutil.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		joined := strings.Join(events, "\n")
		if !strings.Contains(joined, "disconnected from "+addr) || !strings.Contains(joined, "reconnected to "+addr) {
			return fmt.Errorf("events so far: %q", events)
		}
		return nil
	})
	// Reconnected comes after the subscriptions are back.
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("after")}, broker.Confirm())
	for name, c := range map[string]*brokertest.Collector{"plain": &plain, "queue group": &group, "durable": &durable} {
		msgs := c.WaitFor(t, 2)
		if string(msgs[len(msgs)-1].Body) != "after" {
			t.Errorf("%s: want the message after the restart, have %q", name, msgs[len(msgs)-1].Body)
		}
	}
}

// TestPublishWaitsForReconnect: a publish while the node is down waits for
// it, as long as its context allows, and then fails saying so.
func TestPublishWaitsForReconnect(t *testing.T) {
	srv := testenv.RabbitMQ(t)
	b := newBroker(t, srv.URL(), rabbitmq.WithReconnectWait(100*time.Millisecond))
	topic := brokertest.UniqueTopic(t, "down")
	srv.StopNode()
	ctx, cancel := context.WithTimeout(brokertest.Context(t), 500*time.Millisecond)
	defer cancel()
	err := b.Publish(ctx, topic, &broker.Message{Body: []byte("x")}, broker.Confirm())
	if !errors.Is(err, broker.ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach rabbitmq at amqp://"+srv.Addr()+"/") {
		t.Errorf("want ErrUnreachable naming the server, have %v", err)
	}
	srv.Start(t)
	var c brokertest.Collector
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := b.Subscribe(brokertest.Context(t), topic, &c, broker.Durable("d"))
		return err
	})
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("back")}, broker.Confirm())
	c.WaitFor(t, 1)
}

// TestConfirmedAcrossCrash publishes 500 messages with confirms to a durable
// queue while the node is killed (SIGKILL) and started again: every publish
// returns nil, and every message is in the queue afterwards, because
// confirmed ones were on disk and the broker sends again those whose
// confirm the crash took.
func TestConfirmedAcrossCrash(t *testing.T) {
	const total = 500
	srv := testenv.RabbitMQ(t)
	b := newBroker(t, srv.URL(), rabbitmq.WithReconnectWait(100*time.Millisecond))
	topic := brokertest.UniqueTopic(t, "crash")
	seen := map[string]int{}
	var mu sync.Mutex
	brokertest.Subscribe(t, b, topic, broker.HandlerFunc(func(_ context.Context, msg *broker.Message) error {
		mu.Lock()
		seen[string(msg.Body)]++
		mu.Unlock()
		return nil
	}), broker.Durable("crash"))

	var sent atomic.Int32
	done := make(chan error, 1)
	go func() {
		for i := range total {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			err := b.Publish(ctx, topic, &broker.Message{Body: []byte(strconv.Itoa(i))}, broker.Confirm())
			cancel()
			if err != nil {
				done <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			sent.Add(1)
		}
		done <- nil
	}()
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := sent.Load(); n < 50 {
			return fmt.Errorf("%d sent", n)
		}
		return nil
	})
	srv.Kill()
	at := sent.Load()
	srv.Start(t)
	if err := <-done; err != nil {
		t.Fatalf("publish across the crash: %v", err)
	}
	t.Logf("killed the node after %d of %d confirmed", at, total)
	testutil.Eventually(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for i := range total {
			if seen[strconv.Itoa(i)] == 0 {
				return fmt.Errorf("message %d missing (%d distinct of %d)", i, len(seen), total)
			}
		}
		return nil
	})
}
