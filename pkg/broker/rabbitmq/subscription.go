package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/microtools/micro/pkg/broker"
)

var _ broker.Subscription = (*subscription)(nil)

// minPrefetch is the fewest unacknowledged messages a subscription holds.
const minPrefetch = 16

// errStopped is attach's error for a subscription that was stopped.
var errStopped = errors.New("subscription stopped")

// Subscribe implements broker.Broker. The subscription is a queue bound to
// the exchange with the topic's binding key (see BindingKey):
//
//   - without options, an exclusive, auto-delete queue that RabbitMQ names:
//     this subscriber gets every message while it is subscribed;
//   - with broker.Queue(name), the non-durable, auto-delete queue
//     QueueName(name, topic), shared by every subscriber of that name: each
//     message goes to one of them;
//   - with broker.Durable(name), the durable queue QueueName(name, topic),
//     also shared: it keeps the messages while no subscriber is there, and
//     across broker restarts.
//
// Messages are acknowledged after the handler returns. For a durable queue
// a handler error has the message delivered again (after a pause), unless
// it wraps broker.ErrUnprocessable: then it is rejected (dead-lettered when
// the queue has a dead-letter exchange). Otherwise an error is logged and
// the message is gone, as with core NATS. broker.DeliverNew and
// broker.AckWait change nothing (a new queue starts empty; RabbitMQ has no
// per-message ack deadline), broker.CreateStream neither (queues are always
// made); broker.Stream is not supported.
//
// Subscribe returns once the queue is bound and consumed from, so that a
// message published afterwards is delivered. After a reconnect the
// subscription is restored before the broker reports Reconnected.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	key, err := BindingKey(topic)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq broker: subscribe: %w", err)
	}
	if h == nil {
		return nil, fmt.Errorf("rabbitmq broker: subscribe to %q: nil handler", topic)
	}
	o, err := broker.NewSubscribeOptions(opts...)
	if err != nil {
		return nil, err
	}
	if o.Stream.Name != "" {
		return nil, fmt.Errorf("rabbitmq broker: subscribe to %q: stream %q: rabbitmq has no jetstream streams; a durable subscription is a durable queue: %w",
			topic, o.Stream.Name, broker.ErrNotSupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rabbitmq broker: subscribe to %q: %w", topic, err)
	}
	if b.isClosed() {
		return nil, fmt.Errorf("rabbitmq broker: subscribe to %q: %w", topic, broker.ErrClosed)
	}
	s := newSubscription(ctx, b, topic, key, o, h)
	if len(s.queueName) > maxShortString {
		s.stop()
		return nil, fmt.Errorf("rabbitmq broker: subscribe to %q: queue name %q is longer than AMQP's %d bytes: use a shorter name", topic, s.queueName, maxShortString)
	}
	wctx, cancel := b.withTimeout(ctx)
	defer cancel()
	conn, err := b.waitConn(wctx, fmt.Sprintf("subscribe to %q", topic))
	if err == nil {
		err = s.attach(conn)
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	if err := b.add(s); err != nil {
		s.stop()
		return nil, fmt.Errorf("rabbitmq broker: subscribe to %q: %w", topic, err)
	}
	go s.run()
	return s, nil
}

// subscription consumes from one queue, on a channel of its own, and runs
// the handler: on its consuming goroutine with a concurrency of 1, or on
// workers otherwise.
type subscription struct {
	b         *Broker
	topic     string
	key       string // binding key
	group     string // queue group or durable name, "" for none
	durable   bool
	queueName string // "" for a server-named exclusive queue
	prefetch  int
	handler   broker.Handler
	ctx       context.Context // ends when the subscription stops
	cancel    context.CancelFunc

	work    chan amqp.Delivery // nil with a concurrency of 1
	quit    chan struct{}      // closed when the workers are to return
	workers sync.WaitGroup

	// next hands the deliveries of a new channel to run.
	next    chan (<-chan amqp.Delivery)
	runDone chan struct{}

	attachMu sync.Mutex // one attach at a time
	mu       sync.Mutex
	ch       *amqp.Channel
	tag      string
	queue    string // the queue consumed from
	stopped  bool
	draining bool

	stopOnce sync.Once
	quitOnce sync.Once
}

func newSubscription(ctx context.Context, b *Broker, topic, key string, o broker.SubscribeOptions, h broker.Handler) *subscription {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscription{
		b: b, topic: topic, key: key, handler: h,
		ctx: hctx, cancel: cancel,
		quit:    make(chan struct{}),
		next:    make(chan (<-chan amqp.Delivery), 1),
		runDone: make(chan struct{}),
	}
	switch {
	case o.Durable != "":
		s.group, s.durable = o.Durable, true
	case o.Queue != "":
		s.group = o.Queue
	}
	if s.group != "" {
		s.queueName = QueueName(s.group, topic)
	}
	s.prefetch = b.prefetch
	if s.prefetch == 0 {
		s.prefetch = max(minPrefetch, 2*o.Concurrency)
	}
	if o.Concurrency > 1 {
		s.work = make(chan amqp.Delivery)
		s.workers.Add(o.Concurrency)
		for range o.Concurrency {
			go s.runWorker()
		}
	}
	return s
}

// attach sets the subscription up on conn: a channel, the queue, its
// binding and a consumer, and hands the deliveries to run. It does nothing
// when the subscription already consumes on a live channel of conn.
func (s *subscription) attach(conn *amqp.Connection) error {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	s.mu.Lock()
	stopped, cur := s.stopped || s.draining, s.ch
	s.mu.Unlock()
	if stopped {
		return errStopped
	}
	if cur != nil && !cur.IsClosed() {
		return nil
	}
	ch, queue, tag, deliveries, err := s.setup(conn)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.stopped || s.draining {
		s.mu.Unlock()
		_ = ch.Close()
		return errStopped
	}
	s.ch, s.queue, s.tag = ch, queue, tag
	s.mu.Unlock()
	select {
	case <-s.next: // deliveries of a channel that is gone
	default:
	}
	s.next <- deliveries
	return nil
}

func (s *subscription) setup(conn *amqp.Connection) (*amqp.Channel, string, string, <-chan amqp.Delivery, error) {
	op := fmt.Sprintf("subscribe to %q", s.topic)
	fail := func(ch *amqp.Channel, what string, err error) (*amqp.Channel, string, string, <-chan amqp.Delivery, error) {
		if ch != nil {
			_ = ch.Close()
		}
		if isClosedErr(err) {
			err = wrap(broker.ErrUnreachable, err, "rabbitmq broker: %s: %s: cannot reach rabbitmq at %s: connection lost", op, what, s.b.url)
		} else {
			err = fmt.Errorf("rabbitmq broker: %s: %s in rabbitmq at %s: %w", op, what, s.b.url, err)
		}
		return nil, "", "", nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail(nil, "open a channel", err)
	}
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		return fail(ch, "set the prefetch", err)
	}
	var q amqp.Queue
	switch {
	case s.durable:
		q, err = ch.QueueDeclare(s.queueName, true, false, false, false, nil)
	case s.group != "":
		q, err = ch.QueueDeclare(s.queueName, false, true, false, false, nil)
	default:
		q, err = ch.QueueDeclare("", false, true, true, false, nil)
	}
	if err != nil {
		what := fmt.Sprintf("declare queue %q", s.queueName)
		var amqpErr *amqp.Error
		if errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed {
			what += " (it exists with other settings: a --durable and a --queue subscriber of one name, or a queue made by another program)"
		}
		return fail(ch, what, err)
	}
	// Declared each time: cheap, and the exchange may have been deleted.
	if err := ch.ExchangeDeclare(s.b.exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		var amqpErr *amqp.Error
		if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.PreconditionFailed {
			return fail(ch, fmt.Sprintf("declare exchange %q", s.b.exchange), err)
		}
		// It exists with other settings (see declareExchange); the
		// server closed the channel, so start over on a new one.
		_ = ch.Close()
		if ch, err = conn.Channel(); err != nil {
			return fail(nil, "open a channel", err)
		}
		if err := ch.Qos(s.prefetch, 0, false); err != nil {
			return fail(ch, "set the prefetch", err)
		}
	}
	if err := ch.QueueBind(q.Name, s.key, s.b.exchange, false, nil); err != nil {
		return fail(ch, fmt.Sprintf("bind queue %q to exchange %q with key %q", q.Name, s.b.exchange, s.key), err)
	}
	tag := "micro-" + randomTag()
	deliveries, err := ch.Consume(q.Name, tag, false, false, false, false, nil)
	if err != nil {
		return fail(ch, fmt.Sprintf("consume from queue %q", q.Name), err)
	}
	return ch, q.Name, tag, deliveries, nil
}

func randomTag() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run consumes the deliveries of each channel the subscription gets. When
// a channel ends while the connection lives on (the queue was deleted, the
// consumer cancelled by an operator), it attaches again after a pause;
// after a lost connection the broker's supervisor attaches it.
func (s *subscription) run() {
	defer close(s.runDone)
	var deliveries <-chan amqp.Delivery
	for {
		if deliveries != nil {
			s.pump(deliveries)
			deliveries = nil
		}
		if s.ending() {
			return
		}
		select {
		case deliveries = <-s.next:
		case <-s.ctx.Done():
			return
		case <-time.After(s.b.reconnectWait):
			conn := s.b.current()
			if conn == nil || conn.IsClosed() {
				continue // the supervisor attaches after the reconnect
			}
			if err := s.attach(conn); err != nil && !errors.Is(err, errStopped) {
				s.b.event(broker.Event{Kind: broker.AsyncError, URL: s.b.url, Subject: s.topic,
					Err: fmt.Errorf("subscription not restored yet, retrying: %w", err)})
			}
		}
	}
}

func (s *subscription) ending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped || s.draining
}

// pump hands each delivery to the handler until the channel ends.
func (s *subscription) pump(deliveries <-chan amqp.Delivery) {
	for d := range deliveries {
		if s.work == nil {
			s.handle(d)
			continue
		}
		select {
		case s.work <- d:
		case <-s.quit:
			return // stopped: unacknowledged, so RabbitMQ delivers it again
		}
	}
}

func (s *subscription) runWorker() {
	defer s.workers.Done()
	for {
		select {
		case d := <-s.work:
			s.handle(d)
		case <-s.quit:
			return
		}
	}
}

func (s *subscription) handle(d amqp.Delivery) {
	if s.ctx.Err() != nil {
		return // stopped: left unacknowledged
	}
	msg := message(&d, time.Now())
	if s.durable {
		msg.Stream, msg.Deliveries = s.queueName, 1
		if d.Redelivered {
			msg.Deliveries = 2 // at least: AMQP says only that it was delivered before
		}
	}
	err := s.handler.Handle(s.ctx, msg)
	switch {
	case err == nil:
		err = d.Ack(false)
	case !s.durable:
		s.b.logger.Debug("rabbitmq broker handler failed", "topic", msg.Topic, "error", err)
		err = d.Ack(false)
	case errors.Is(err, broker.ErrUnprocessable):
		s.b.logger.Debug("rabbitmq broker rejecting unprocessable message", "topic", msg.Topic, "queue", s.queueName, "error", err)
		err = d.Nack(false, false)
	default:
		delay := 200 * time.Millisecond
		if d.Redelivered {
			delay = time.Second
		}
		s.b.logger.Debug("rabbitmq broker redelivering message", "topic", msg.Topic, "queue", s.queueName, "redeliver_in", delay, "error", err)
		select {
		case <-time.After(delay):
		case <-s.ctx.Done():
			return // stopped: unacknowledged, so delivered again
		}
		err = d.Nack(false, true)
	}
	if err != nil {
		// Not acknowledged: RabbitMQ delivers it again when the channel
		// closes.
		s.b.logger.Debug("rabbitmq broker acknowledgement failed", "topic", msg.Topic, "error", err)
	}
}

func (s *subscription) Topic() string { return s.topic }
func (s *subscription) Queue() string { return s.group }

// Unsubscribe implements broker.Subscription: it closes the subscription's
// channel, so RabbitMQ stops delivering at once (and gives unacknowledged
// messages of a durable queue to another subscriber).
func (s *subscription) Unsubscribe() error {
	s.stop()
	return nil
}

func (s *subscription) stop() {
	s.stopOnce.Do(func() {
		s.b.remove(s)
		s.mu.Lock()
		s.stopped = true
		ch := s.ch
		s.mu.Unlock()
		s.cancel()
		if ch != nil {
			_ = ch.Close() // fails only when already closed
		}
		s.closeQuit()
	})
}

func (s *subscription) closeQuit() { s.quitOnce.Do(func() { close(s.quit) }) }

// Drain implements broker.Subscription: it cancels the consumer, handles
// what was already delivered and acknowledges it, then closes the channel.
func (s *subscription) Drain(ctx context.Context) error {
	s.b.remove(s)
	s.mu.Lock()
	s.draining = true
	ch, tag := s.ch, s.tag
	s.mu.Unlock()
	if ch != nil && !ch.IsClosed() {
		if s.group == "" {
			s.emptyOwnQueue(ctx, ch)
		}
		// RabbitMQ stops delivering; amqp091 closes the delivery channel
		// once the deliveries it holds are taken.
		_ = ch.Cancel(tag, false)
	} else {
		s.stop() // nothing to drain without a channel
		return nil
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-s.runDone: // every delivery was handled or handed to a worker
		case <-ctx.Done():
			return
		}
		s.closeQuit()
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.stop()
		return nil
	case <-ctx.Done():
		s.stop()
		return fmt.Errorf("rabbitmq broker: drain subscription to %q: %w", s.topic, ctx.Err())
	}
}

// emptyOwnQueue unbinds the subscription's exclusive queue, so that nothing
// more reaches it, and waits until RabbitMQ has delivered everything the
// queue holds (beyond the prefetch), for as long as ctx allows: those
// messages reached the subscription, and the queue dies with it.
func (s *subscription) emptyOwnQueue(ctx context.Context, ch *amqp.Channel) {
	s.mu.Lock()
	queue := s.queue
	s.mu.Unlock()
	if err := ch.QueueUnbind(queue, s.key, s.b.exchange, nil); err != nil {
		return
	}
	for {
		q, err := ch.QueueDeclarePassive(queue, false, true, true, false, nil)
		if err != nil || q.Messages == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
