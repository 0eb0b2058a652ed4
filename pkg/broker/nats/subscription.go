package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/broker"
)

var _ broker.Subscription = (*subscription)(nil)

// minPullBatch is the fewest messages a durable subscription asks the
// server for at once; it asks for more when its concurrency is high.
const minPullBatch = 64

// Subscribe implements broker.Broker. With broker.Durable the subscription
// is a JetStream durable consumer; otherwise it is a core NATS
// subscription, in a queue group when broker.Queue is given. It returns once
// the server knows of the subscription, so that a message published
// afterwards is delivered.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if err := broker.ValidatePattern(topic); err != nil {
		return nil, fmt.Errorf("nats broker: subscribe: %w", err)
	}
	if h == nil {
		return nil, fmt.Errorf("nats broker: subscribe to %q: nil handler", topic)
	}
	o, err := broker.NewSubscribeOptions(opts...)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats broker: subscribe to %q: %w", topic, err)
	}
	if b.isClosed() {
		return nil, fmt.Errorf("nats broker: subscribe to %q: %w", topic, broker.ErrClosed)
	}
	s := newSubscription(ctx, b, topic, o, h)
	if o.Durable != "" {
		err = s.startDurable(ctx, o)
	} else {
		err = s.startCore(ctx)
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	if err := b.add(s); err != nil {
		s.stop()
		return nil, fmt.Errorf("nats broker: subscribe to %q: %w", topic, err)
	}
	return s, nil
}

// delivery is a message on its way to a worker.
type delivery struct {
	core *natsgo.Msg
	js   jetstream.Msg
}

// subscription runs the handler for a core subscription or a durable
// consumer. With a concurrency of 1 the handler runs on the goroutine
// nats.go delivers on; otherwise that goroutine hands each message to one of
// the subscription's workers, waiting while all are busy.
type subscription struct {
	b       *Broker
	topic   string
	queue   string
	handler broker.Handler
	ctx     context.Context // ends when the subscription stops
	cancel  context.CancelFunc

	work    chan delivery // nil with a concurrency of 1
	quit    chan struct{} // closed when the workers are to return
	workers sync.WaitGroup

	sub     *natsgo.Subscription     // core
	consume jetstream.ConsumeContext // durable
	ackWait time.Duration            // durable: the consumer's ack wait

	stopOnce sync.Once
	quitOnce sync.Once
}

func newSubscription(ctx context.Context, b *Broker, topic string, o broker.SubscribeOptions, h broker.Handler) *subscription {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscription{
		b: b, topic: topic, queue: o.Queue, handler: h,
		ctx: hctx, cancel: cancel, quit: make(chan struct{}),
	}
	if o.Durable != "" {
		s.queue = o.Durable
	}
	if o.Concurrency > 1 {
		s.work = make(chan delivery)
		s.workers.Add(o.Concurrency)
		for range o.Concurrency {
			go s.runWorker()
		}
	}
	return s
}

func (s *subscription) startCore(ctx context.Context) error {
	op := fmt.Sprintf("subscribe to %q", s.topic)
	var err error
	if s.queue != "" {
		s.sub, err = s.b.nc.QueueSubscribe(s.topic, s.queue, s.onCore)
	} else {
		s.sub, err = s.b.nc.Subscribe(s.topic, s.onCore)
	}
	if err != nil {
		return s.b.opError(op, err)
	}
	if s.b.nc.Status() != natsgo.CONNECTED {
		return nil // sent to the server when the connection is back
	}
	// A round trip, so that the server has the subscription on return.
	fctx, cancel := s.b.withTimeout(ctx)
	defer cancel()
	if err := s.b.nc.FlushWithContext(fctx); err != nil {
		return s.b.opError(op, err)
	}
	return nil
}

func (s *subscription) startDurable(ctx context.Context, o broker.SubscribeOptions) error {
	op := fmt.Sprintf("durable subscription %q to %q", o.Durable, s.topic)
	ctx, cancel := s.b.withTimeout(ctx)
	defer cancel()
	stream, err := s.b.resolveStream(ctx, op, s.topic, o.Stream)
	if err != nil {
		return err
	}
	cons, err := s.b.durableConsumer(ctx, op, stream, s.topic, o)
	if err != nil {
		return err
	}
	info := cons.info()
	s.ackWait = info.Config.AckWait
	onError := jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.b.logger.Debug("nats broker durable subscription", "topic", s.topic, "durable", o.Durable, "error", err)
	})
	if cons.push != nil {
		// A push consumer delivers to its subject (in its deliver group)
		// at the pace its max ack pending allows.
		s.consume, err = cons.push.Consume(s.onJetStream, onError)
		if err != nil {
			return s.b.opError(fmt.Sprintf("%s (push consumer delivering to %q)", op, info.Config.DeliverSubject), err)
		}
		// A round trip, so that the server has the subscription on return
		// and shows the consumer bound.
		if s.b.nc.Status() == natsgo.CONNECTED {
			if err := s.b.nc.FlushWithContext(ctx); err != nil {
				return s.b.opError(op, err)
			}
		}
		return nil
	}
	s.consume, err = cons.pull.Consume(s.onJetStream,
		jetstream.PullMaxMessages(max(minPullBatch, 2*o.Concurrency)), onError)
	if err != nil {
		return s.b.opError(op, err)
	}
	return nil
}

func (s *subscription) onCore(m *natsgo.Msg) {
	if s.work == nil {
		s.handleCore(m)
		return
	}
	select {
	case s.work <- delivery{core: m}:
	case <-s.quit:
	}
}

func (s *subscription) onJetStream(m jetstream.Msg) {
	if s.work == nil {
		s.handleJetStream(m)
		return
	}
	select {
	case s.work <- delivery{js: m}:
	case <-s.quit:
		// Stopped: the consumer delivers it again after its ack wait.
	}
}

func (s *subscription) runWorker() {
	defer s.workers.Done()
	for {
		select {
		case d := <-s.work:
			if d.core != nil {
				s.handleCore(d.core)
			} else {
				s.handleJetStream(d.js)
			}
		case <-s.quit:
			return
		}
	}
}

func (s *subscription) handleCore(m *natsgo.Msg) {
	msg := &broker.Message{
		Header:     broker.Header(m.Header),
		Body:       m.Data,
		Topic:      m.Subject,
		ReceivedAt: time.Now(),
	}
	if err := s.handler.Handle(s.ctx, msg); err != nil {
		s.b.logger.Debug("nats broker handler failed", "topic", m.Subject, "error", err)
	}
}

func (s *subscription) handleJetStream(m jetstream.Msg) {
	msg := &broker.Message{
		Header:     broker.Header(m.Headers()),
		Body:       m.Data(),
		Topic:      m.Subject(),
		ReceivedAt: time.Now(),
	}
	if md, err := m.Metadata(); err == nil {
		msg.Stream, msg.Sequence, msg.Deliveries = md.Stream, md.Sequence.Stream, md.NumDelivered
	}
	var progress *progressReporter
	if s.ackWait > 0 {
		progress = reportProgress(m, s.ackWait/2)
	}
	err := s.handler.Handle(s.ctx, msg)
	progress.stop()
	switch {
	case err == nil:
		err = m.Ack()
	case errors.Is(err, broker.ErrUnprocessable):
		s.b.logger.Debug("nats broker dropping unprocessable message", "topic", msg.Topic, "stream", msg.Stream, "sequence", msg.Sequence, "error", err)
		err = m.Term()
	default:
		delay := redeliveryDelay(msg.Deliveries)
		s.b.logger.Debug("nats broker redelivering message", "topic", msg.Topic, "stream", msg.Stream, "sequence", msg.Sequence,
			"deliveries", msg.Deliveries, "redeliver_in", delay, "error", err)
		err = m.NakWithDelay(delay)
	}
	if err != nil {
		// Not acknowledged: the consumer delivers it again after its ack wait.
		s.b.logger.Debug("nats broker acknowledgement failed", "topic", msg.Topic, "error", err)
	}
}

// progressReporter tells the server that a handler is still at work on a
// message, every interval, so that the message is not delivered again.
type progressReporter struct {
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func reportProgress(m jetstream.Msg, interval time.Duration) *progressReporter {
	p := &progressReporter{}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = time.AfterFunc(interval, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopped {
			return
		}
		_ = m.InProgress()
		p.timer.Reset(interval)
	})
	return p
}

func (p *progressReporter) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.timer.Stop()
}

func (s *subscription) Topic() string { return s.topic }
func (s *subscription) Queue() string { return s.queue }

// Unsubscribe implements broker.Subscription.
func (s *subscription) Unsubscribe() error {
	s.stop()
	return nil
}

// stop ends the subscription at once.
func (s *subscription) stop() {
	s.stopOnce.Do(func() {
		s.b.remove(s)
		switch {
		case s.sub != nil:
			_ = s.sub.Unsubscribe() // fails only when already closed
		case s.consume != nil:
			s.consume.Stop()
		}
		s.closeQuit()
		s.cancel()
	})
}

func (s *subscription) closeQuit() { s.quitOnce.Do(func() { close(s.quit) }) }

// Drain implements broker.Subscription.
func (s *subscription) Drain(ctx context.Context) error {
	s.b.remove(s)
	var intakeClosed <-chan struct{}
	switch {
	case s.sub != nil:
		closed := s.sub.StatusChanged(natsgo.SubscriptionClosed)
		if err := s.sub.Drain(); err != nil {
			s.stop() // the connection is closed: nothing left to drain
			return nil
		}
		done := make(chan struct{})
		go func() {
			for range closed { // closed when the subscription is
			}
			close(done)
		}()
		intakeClosed = done
	case s.consume != nil:
		s.consume.Drain()
		intakeClosed = s.consume.Closed()
	}
	// Every message received has been handed to a worker once nats.go has
	// closed the subscription; then the workers finish what they hold.
	workersDone := make(chan struct{})
	go func() {
		select {
		case <-intakeClosed:
		case <-ctx.Done():
			return
		}
		s.closeQuit()
		s.workers.Wait()
		close(workersDone)
	}()
	select {
	case <-workersDone:
		s.stop()
		return nil
	case <-ctx.Done():
		s.stop()
		return fmt.Errorf("nats broker: drain subscription to %q: %w", s.topic, ctx.Err())
	}
}
