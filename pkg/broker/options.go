package broker

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// PublishOption changes how one message is published. The options of this
// package implement it; pass them to Publish.
type PublishOption interface {
	applyPublish(*PublishOptions) error
}

// SubscribeOption changes a subscription. The options of this package
// implement it; pass them to Subscribe.
type SubscribeOption interface {
	applySubscribe(*SubscribeOptions) error
}

// StreamOption names or creates the JetStream stream of a publish or a
// durable subscription; it is both a PublishOption and a SubscribeOption.
type StreamOption interface {
	PublishOption
	SubscribeOption
}

// PublishOptions are what the PublishOptions of one Publish ask for. Broker
// implementations read them with NewPublishOptions.
type PublishOptions struct {
	// JetStream publishes through JetStream and waits for a stream's
	// acknowledgement.
	JetStream bool
	// Ack, when not nil, receives the acknowledgement. It implies
	// JetStream.
	Ack *PublishAck
	// Flush waits until the server has received the message (core
	// publishing only; JetStream always waits).
	Flush bool
	// Confirm waits until the broker has taken charge of the message: a
	// publisher confirm on RabbitMQ (after persistent messages are written
	// to durable queues); on NATS core publishing it is Flush.
	Confirm bool
	// Stream names or creates the stream.
	Stream StreamOptions
}

// SubscribeOptions are what the SubscribeOptions of one Subscribe ask for.
// Broker implementations read them with NewSubscribeOptions.
type SubscribeOptions struct {
	// Queue is the queue group; "" means every message.
	Queue string
	// Durable is the name of a durable JetStream consumer; "" means core
	// delivery.
	Durable string
	// DeliverNew makes a durable consumer that is created by this call
	// start with messages published from now on instead of every message
	// the stream holds.
	DeliverNew bool
	// AckWait is how long a durable consumer waits for a handler before it
	// delivers the message again; zero means the server's default (30s).
	// Long-running handlers keep their message by reporting progress.
	AckWait time.Duration
	// Concurrency is how many calls of the handler may run at once; 1 (the
	// default) handles messages one at a time, in order.
	Concurrency int
	// Stream names or creates the stream of a durable subscription.
	Stream StreamOptions
}

// StreamOptions say which JetStream stream holds a topic.
type StreamOptions struct {
	// Name is the stream; "" means the stream whose subjects hold the
	// topic.
	Name string
	// Subjects are the subjects of a stream that Create makes; empty means
	// the topic alone.
	Subjects []string
	// Create makes the stream when it does not exist: named Name, or after
	// the topic when Name is empty.
	Create bool
}

// NewPublishOptions applies opts in order and returns the result, or the
// first option's error.
func NewPublishOptions(opts ...PublishOption) (PublishOptions, error) {
	var o PublishOptions
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.applyPublish(&o); err != nil {
			return o, err
		}
	}
	if o.Ack != nil {
		o.JetStream = true
	}
	if o.Confirm && !o.JetStream {
		o.Flush = true // what confirming means to a broker without confirms
	}
	if !o.JetStream && (o.Stream.Name != "" || o.Stream.Create) {
		return o, errors.New("broker: stream options apply to JetStream publishing: add broker.JetStream()")
	}
	return o, nil
}

// NewSubscribeOptions applies opts in order and returns the result, or the
// first option's error.
func NewSubscribeOptions(opts ...SubscribeOption) (SubscribeOptions, error) {
	o := SubscribeOptions{Concurrency: 1}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.applySubscribe(&o); err != nil {
			return o, err
		}
	}
	if o.Durable == "" && (o.Stream.Name != "" || o.Stream.Create || o.DeliverNew || o.AckWait > 0) {
		return o, errors.New("broker: stream, deliver and ack options apply to durable subscriptions: add broker.Durable(name)")
	}
	return o, nil
}

type publishOption func(*PublishOptions) error

func (f publishOption) applyPublish(o *PublishOptions) error { return f(o) }

type subscribeOption func(*SubscribeOptions) error

func (f subscribeOption) applySubscribe(o *SubscribeOptions) error { return f(o) }

type streamOption func(*StreamOptions) error

func (f streamOption) applyPublish(o *PublishOptions) error     { return f(&o.Stream) }
func (f streamOption) applySubscribe(o *SubscribeOptions) error { return f(&o.Stream) }

// JetStream publishes through JetStream: Publish returns once the stream
// that holds the topic has stored the message, and fails with ErrNoStream
// when none does (see CreateStream).
func JetStream() PublishOption {
	return publishOption(func(o *PublishOptions) error {
		o.JetStream = true
		return nil
	})
}

// AckTo publishes through JetStream, as JetStream does, and stores the
// stream's acknowledgement in ack.
func AckTo(ack *PublishAck) PublishOption {
	return publishOption(func(o *PublishOptions) error {
		if ack == nil {
			return errors.New("broker: AckTo: nil *PublishAck")
		}
		o.Ack, o.JetStream = ack, true
		return nil
	})
}

// Flush makes Publish wait until the server has received the message, for
// a program that exits right after publishing. Without it core publishing
// is buffered and returns at once.
func Flush() PublishOption {
	return publishOption(func(o *PublishOptions) error {
		o.Flush = true
		return nil
	})
}

// Confirm makes Publish wait until the broker has taken charge of the
// message and fail when it refuses it: RabbitMQ's publisher confirms, which
// come once the message is routed to its queues (and written to disk for
// durable ones). A RabbitMQ broker that has no queue for the topic fails
// with ErrNoStream. Brokers without confirms wait as Flush does.
func Confirm() PublishOption {
	return publishOption(func(o *PublishOptions) error {
		o.Confirm = true
		return nil
	})
}

// Stream names the JetStream stream to publish to or to subscribe from, and
// the subjects it gets when CreateStream makes it (default: the topic).
// Publishing fails when the stream does not hold the topic.
func Stream(name string, subjects ...string) StreamOption {
	return streamOption(func(o *StreamOptions) error {
		if err := validateName("stream", name); err != nil {
			return err
		}
		for _, s := range subjects {
			if err := ValidatePattern(s); err != nil {
				return fmt.Errorf("broker: stream %q subject: %w", name, err)
			}
		}
		o.Name, o.Subjects = name, subjects
		return nil
	})
}

// CreateStream creates the stream when it is missing: the one Stream names,
// or else one named after the topic ("orders.created" -> ORDERS_CREATED)
// that holds the topic alone.
func CreateStream() StreamOption {
	return streamOption(func(o *StreamOptions) error {
		o.Create = true
		return nil
	})
}

// Queue puts the subscription in a queue group: each message goes to one
// subscriber of the group.
func Queue(name string) SubscribeOption {
	return subscribeOption(func(o *SubscribeOptions) error {
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("broker: invalid queue name %q: it must be non-empty, without whitespace", name)
		}
		o.Queue = name
		return nil
	})
}

// Durable makes the subscription a durable JetStream consumer named name:
// messages are kept by the stream that holds the topic, acknowledged when
// the handler returns nil and delivered again after an error, and a
// subscriber that comes back resumes where the consumer stopped. Every
// subscriber with the same durable name shares its messages, as a queue
// group does.
func Durable(name string) SubscribeOption {
	return subscribeOption(func(o *SubscribeOptions) error {
		if err := validateName("durable", name); err != nil {
			return err
		}
		o.Durable = name
		return nil
	})
}

// DeliverNew makes a durable consumer created by this subscribe start with
// the messages published from now on; by default it starts with every
// message the stream holds. It changes nothing for a consumer that exists.
func DeliverNew() SubscribeOption {
	return subscribeOption(func(o *SubscribeOptions) error {
		o.DeliverNew = true
		return nil
	})
}

// AckWait sets how long a durable consumer created by this subscribe waits
// for a handler to finish before it delivers the message again. The broker
// reports progress for handlers that take longer, so this matters only when
// the subscriber dies.
func AckWait(d time.Duration) SubscribeOption {
	return subscribeOption(func(o *SubscribeOptions) error {
		if d <= 0 {
			return fmt.Errorf("broker: ack wait must be positive, not %s", d)
		}
		o.AckWait = d
		return nil
	})
}

// Concurrency lets up to n calls of the handler run at once. With n = 1,
// the default, messages are handled one at a time in the order they arrive.
func Concurrency(n int) SubscribeOption {
	return subscribeOption(func(o *SubscribeOptions) error {
		if n < 1 {
			return fmt.Errorf("broker: concurrency must be at least 1, not %d", n)
		}
		o.Concurrency = n
		return nil
	})
}

// validateName checks a durable or stream name: not empty, no
// whitespace, dots, wildcards or path separators.
func validateName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("broker: empty %s name", what)
	case strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(".*>/\\", r)
	}):
		return fmt.Errorf("broker: invalid %s name %q: no whitespace, '.', '*', '>', '/' or '\\'", what, name)
	}
	return nil
}
