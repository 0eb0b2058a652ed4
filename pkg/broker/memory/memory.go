package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/microtools/micro/pkg/broker"
)

var (
	_ broker.Broker       = (*Broker)(nil)
	_ broker.Subscription = (*subscription)(nil)
)

// Broker is an in-process broker. Create it with New and Close it when done;
// Close stops the goroutines of every subscription.
type Broker struct {
	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
	// next is the turn of each queue group: the index of the member that
	// gets the next message.
	next   map[string]int
	lastID uint64
}

// New returns an empty broker.
func New() *Broker {
	return &Broker{subs: map[*subscription]struct{}{}, next: map[string]int{}}
}

// String implements broker.Broker.
func (b *Broker) String() string { return "memory" }

// Publish implements broker.Broker. It returns once every subscription that
// gets the message has it queued; handlers run later.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message, opts ...broker.PublishOption) error {
	if err := broker.ValidateTopic(topic); err != nil {
		return fmt.Errorf("memory broker: publish: %w", err)
	}
	if msg == nil {
		return fmt.Errorf("memory broker: publish to %q: nil message", topic)
	}
	if len(opts) > 0 {
		o, err := broker.NewPublishOptions(opts...)
		if err != nil {
			return err
		}
		if o.JetStream {
			return fmt.Errorf("memory broker: publish to %q with jetstream: %w: the memory broker keeps no messages", topic, broker.ErrNotSupported)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory broker: publish to %q: %w", topic, err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("memory broker: publish to %q: %w", topic, broker.ErrClosed)
	}
	var groups map[string][]*subscription
	for s := range b.subs {
		if !broker.MatchTopic(s.topic, topic) {
			continue
		}
		if s.queue == "" {
			s.push(copyMessage(msg, topic))
			continue
		}
		if groups == nil {
			groups = map[string][]*subscription{}
		}
		groups[s.queue] = append(groups[s.queue], s)
	}
	for queue, members := range groups {
		// Map order is random; the turn needs a stable order.
		sortByID(members)
		turn := b.next[queue] % len(members)
		b.next[queue] = turn + 1
		members[turn].push(copyMessage(msg, topic))
	}
	return nil
}

func copyMessage(msg *broker.Message, topic string) *broker.Message {
	out := &broker.Message{Header: msg.Header.Clone(), Topic: topic}
	if msg.Body != nil {
		out.Body = append([]byte(nil), msg.Body...)
	}
	return out
}

func sortByID(subs []*subscription) {
	for i := 1; i < len(subs); i++ {
		for j := i; j > 0 && subs[j].id < subs[j-1].id; j-- {
			subs[j], subs[j-1] = subs[j-1], subs[j]
		}
	}
}

// Subscribe implements broker.Broker.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if err := broker.ValidatePattern(topic); err != nil {
		return nil, fmt.Errorf("memory broker: subscribe: %w", err)
	}
	if h == nil {
		return nil, fmt.Errorf("memory broker: subscribe to %q: nil handler", topic)
	}
	o, err := broker.NewSubscribeOptions(opts...)
	if err != nil {
		return nil, err
	}
	if o.Durable != "" {
		return nil, fmt.Errorf("memory broker: durable subscription %q to %q: %w: the memory broker keeps no messages", o.Durable, topic, broker.ErrNotSupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory broker: subscribe to %q: %w", topic, err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("memory broker: subscribe to %q: %w", topic, broker.ErrClosed)
	}
	s := newSubscription(b, topic, o.Queue, h)
	b.subs[s] = struct{}{}
	s.start(o.Concurrency)
	return s, nil
}

// Close implements broker.Broker: it unsubscribes every subscription.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	return nil
}

func (b *Broker) remove(s *subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}

type subState int

const (
	active subState = iota
	draining
	stopped
)

// subscription queues its messages and runs the handler on its own workers.
type subscription struct {
	b       *Broker
	id      uint64
	topic   string
	queue   string
	handler broker.Handler
	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup

	mu      sync.Mutex
	wake    *sync.Cond
	pending []*broker.Message
	state   subState
}

func newSubscription(b *Broker, topic, queue string, h broker.Handler) *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{b: b, id: b.newID(), topic: topic, queue: queue, handler: h, ctx: ctx, cancel: cancel}
	s.wake = sync.NewCond(&s.mu)
	return s
}

// newID numbers subscriptions in the order they were made; b.mu is held.
func (b *Broker) newID() uint64 {
	b.lastID++
	return b.lastID
}

func (s *subscription) start(workers int) {
	s.workers.Add(workers)
	for range workers {
		go s.work()
	}
}

func (s *subscription) push(msg *broker.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != active {
		return
	}
	s.pending = append(s.pending, msg)
	s.wake.Signal()
}

// next waits for a message; it returns nil when the worker should stop.
func (s *subscription) next() *broker.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) == 0 && s.state == active {
		s.wake.Wait()
	}
	if s.state == stopped || len(s.pending) == 0 {
		return nil
	}
	msg := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	return msg
}

func (s *subscription) work() {
	defer s.workers.Done()
	for {
		msg := s.next()
		if msg == nil {
			return
		}
		msg.ReceivedAt = time.Now()
		_ = s.handler.Handle(s.ctx, msg)
	}
}

func (s *subscription) Topic() string { return s.topic }
func (s *subscription) Queue() string { return s.queue }

// Unsubscribe implements broker.Subscription.
func (s *subscription) Unsubscribe() error {
	s.b.remove(s)
	s.mu.Lock()
	s.state = stopped
	s.pending = nil
	s.wake.Broadcast()
	s.mu.Unlock()
	s.cancel()
	return nil
}

// Drain implements broker.Subscription.
func (s *subscription) Drain(ctx context.Context) error {
	s.b.remove(s)
	s.mu.Lock()
	if s.state == active {
		s.state = draining
	}
	s.wake.Broadcast()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		_ = s.Unsubscribe()
		return fmt.Errorf("memory broker: drain subscription to %q: %w", s.topic, ctx.Err())
	}
}
