package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/codec"
)

// DefaultSubscriberConcurrency is how many calls of one subscriber's handler
// may run at once when Concurrency is not given.
const DefaultSubscriberConcurrency = 16

// Subscriber is a topic the service subscribes to while it runs, and what
// handles its messages. Add one with the Subscribe option.
type Subscriber struct {
	// Topic is the topic or pattern ("orders.*").
	Topic string
	// Handler handles each message.
	Handler broker.Handler
	// Queue is the queue group; empty means the service name, so that the
	// instances of a service share the messages. Ignored with Broadcast.
	Queue string
	// Broadcast gives every instance every message: no queue group.
	Broadcast bool
	// Concurrency is how many calls of Handler may run at once.
	Concurrency int
	// BrokerOptions are passed to the broker's Subscribe after the
	// service's own, such as broker.Durable.
	BrokerOptions []broker.SubscribeOption
}

// SubscriberOption changes a Subscriber.
type SubscriberOption func(*Subscriber) error

// Subscribe has the service subscribe to topic with a broker (see the
// Broker option) from when its gRPC server is up until it stops, calling h
// for each message:
//
//	service.Subscribe("greeter.greeted", service.ProtoHandler(func(ctx context.Context, ev *greeterpb.Greeted) error {
//		...
//	}))
//
// The instances of the service share the messages (a queue group named
// after the service) unless Broadcast or Queue says otherwise. Up to
// DefaultSubscriberConcurrency calls of h run at once (see Concurrency). An
// error h returns is logged; a panic is recovered, logged with its stack and
// treated as an error, so the service keeps running. For a durable
// subscription (broker.Durable through BrokerOptions) an error has the
// message delivered again.
func Subscribe(topic string, h broker.Handler, opts ...SubscriberOption) Option {
	return func(o *Options) error {
		if err := broker.ValidatePattern(topic); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if h == nil {
			return fmt.Errorf("subscribe to %q: handler is nil", topic)
		}
		sub := Subscriber{Topic: topic, Handler: h, Concurrency: DefaultSubscriberConcurrency}
		for _, opt := range opts {
			if opt == nil {
				continue
			}
			if err := opt(&sub); err != nil {
				return fmt.Errorf("subscribe to %q: %w", topic, err)
			}
		}
		o.Subscribers = append(o.Subscribers, sub)
		return nil
	}
}

// Queue sets the queue group the subscriber joins instead of the service
// name.
func Queue(name string) SubscriberOption {
	return func(s *Subscriber) error {
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("invalid queue name %q: it must be non-empty, without whitespace", name)
		}
		s.Queue, s.Broadcast = name, false
		return nil
	}
}

// Broadcast gives every instance of the service every message, instead of
// sharing them in a queue group.
func Broadcast() SubscriberOption {
	return func(s *Subscriber) error {
		s.Broadcast, s.Queue = true, ""
		return nil
	}
}

// Concurrency lets up to n calls of the subscriber's handler run at once;
// 1 handles messages one at a time, in order.
func Concurrency(n int) SubscriberOption {
	return func(s *Subscriber) error {
		if n < 1 {
			return fmt.Errorf("concurrency must be at least 1, not %d", n)
		}
		s.Concurrency = n
		return nil
	}
}

// BrokerOptions adds options for the broker's Subscribe, such as
// broker.Durable("greeter") for a durable JetStream subscription.
func BrokerOptions(opts ...broker.SubscribeOption) SubscriberOption {
	return func(s *Subscriber) error {
		s.BrokerOptions = append(s.BrokerOptions, opts...)
		return nil
	}
}

type messageKey struct{}

// MessageFromContext returns the broker message being handled, for a typed
// handler that wants its headers or topic.
func MessageFromContext(ctx context.Context) (*broker.Message, bool) {
	msg, ok := ctx.Value(messageKey{}).(*broker.Message)
	return msg, ok
}

// ProtoHandler returns a handler that decodes each message into a new T
// and calls fn with it. The Content-Type header picks the decoding:
// application/json (protojson; fields the message does not know are
// ignored) or application/protobuf; without the header, a body starting
// with '{' is JSON and anything else protobuf. A message that does not
// decode is an error wrapping broker.ErrUnprocessable, which fn never sees.
// T is a generated message pointer type, such as *greeterpb.Greeted.
func ProtoHandler[T proto.Message](fn func(ctx context.Context, msg T) error) broker.Handler {
	var zero T
	msgType := zero.ProtoReflect().Type()
	codecs := codec.NewTable(codec.JSON{DiscardUnknown: true}, codec.Proto{})
	return broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) error {
		v := msgType.New().Interface().(T)
		if err := decode(codecs, msg, v); err != nil {
			return err
		}
		return fn(ctx, v)
	})
}

func decode(codecs *codec.Table, msg *broker.Message, v proto.Message) error {
	contentType := msg.ContentType()
	if contentType == "" {
		contentType = codec.ContentTypeProto
		if trimmed := bytes.TrimLeft(msg.Body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
			contentType = codec.ContentTypeJSON
		}
	}
	c, ok := codecs.ByContentType(contentType)
	if !ok {
		return fmt.Errorf("%w: content type %q of a message on %q: want %s or %s",
			broker.ErrUnprocessable, contentType, msg.Topic, codec.ContentTypeJSON, codec.ContentTypeProto)
	}
	if err := c.Unmarshal(msg.Body, v); err != nil {
		return fmt.Errorf("%w: message on %q: %w", broker.ErrUnprocessable, msg.Topic, err)
	}
	return nil
}

// BytesHandler returns a handler that calls fn with each message's body,
// whatever its content type. A handler that wants the headers too is a
// broker.HandlerFunc, or calls MessageFromContext.
func BytesHandler(fn func(ctx context.Context, body []byte) error) broker.Handler {
	return broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) error {
		return fn(ctx, msg.Body)
	})
}

// subscribe starts every subscriber; on failure it stops those it started.
func (s *Service) subscribe(ctx context.Context) ([]broker.Subscription, error) {
	subs := make([]broker.Subscription, 0, len(s.opts.Subscribers))
	for _, sub := range s.opts.Subscribers {
		opts := []broker.SubscribeOption{broker.Concurrency(sub.Concurrency)}
		queue := ""
		if !sub.Broadcast {
			queue = sub.Queue
			if queue == "" {
				queue = s.opts.Name
			}
			opts = append(opts, broker.Queue(queue))
		}
		opts = append(opts, sub.BrokerOptions...)
		bs, err := s.opts.Broker.Subscribe(ctx, sub.Topic, s.guard(sub.Topic, sub.Handler), opts...)
		if err != nil {
			for _, started := range subs {
				_ = started.Unsubscribe()
			}
			return nil, fmt.Errorf("subscribe to %q with %s: %w", sub.Topic, s.opts.Broker, err)
		}
		subs = append(subs, bs)
		s.logger.Info("subscribed", "topic", sub.Topic, "queue", bs.Queue(), "concurrency", sub.Concurrency, "broker", s.opts.Broker.String())
	}
	return subs, nil
}

// guard logs h's errors and turns its panics into logged errors.
func (s *Service) guard(pattern string, h broker.Handler) broker.Handler {
	return broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.logger.Error("event handler panicked", "topic", msg.Topic, "subscription", pattern,
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("service %q: handler for %q panicked: %v", s.opts.Name, msg.Topic, r)
			}
		}()
		err = h.Handle(context.WithValue(ctx, messageKey{}, msg), msg)
		if err != nil {
			attrs := []any{"topic", msg.Topic, "subscription", pattern, "error", err}
			if msg.Deliveries > 0 {
				attrs = append(attrs, "stream", msg.Stream, "sequence", msg.Sequence, "deliveries", msg.Deliveries)
			}
			if errors.Is(err, broker.ErrUnprocessable) {
				s.logger.Error("event dropped: it cannot be handled", attrs...)
			} else {
				s.logger.Error("event handler failed", attrs...)
			}
		}
		return err
	})
}

// unsubscribe drains every subscription at once: no new messages, those
// received are handled, for as long as the drain timeout and ctx allow.
func (s *Service) unsubscribe(ctx context.Context, subs []broker.Subscription) {
	if len(subs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Go(func() {
			if err := sub.Drain(ctx); err != nil {
				s.logger.Warn("subscription did not drain in time; its handlers were cancelled", "topic", sub.Topic(), "error", err)
			}
		})
	}
	wg.Wait()
	s.logger.Info("unsubscribed", "subscriptions", len(subs))
}
