package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/broker"
)

// ensureStream makes stream exist, creating it with subjects (default: the
// topic alone) when it is missing.
func (b *Broker) ensureStream(ctx context.Context, op, stream string, subjects []string, topic string) error {
	if _, ok := b.streams.Load(stream); ok {
		return nil
	}
	_, err := b.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if len(subjects) == 0 {
			subjects = []string{topic}
		}
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        stream,
			Description: fmt.Sprintf("created by micro for topic %s", topic),
			Subjects:    subjects,
			Storage:     jetstream.FileStorage,
			Replicas:    b.replicas(),
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // made by someone else meanwhile
		}
		if err != nil && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) && !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				return fmt.Errorf("nats broker: %s: create stream %q with subjects %v in nats at %s: %w", op, stream, subjects, b.url, err)
			}
		}
	}
	if err != nil {
		return b.opError(op, b.jetStreamMissing(ctx, err))
	}
	b.streams.Store(stream, struct{}{})
	return nil
}

// resolveStream finds the stream of a durable subscription to topic: the
// one named, or the one whose subjects hold topic; with Create, one is
// made when missing.
func (b *Broker) resolveStream(ctx context.Context, op, topic string, o broker.StreamOptions) (string, error) {
	if o.Name != "" {
		if o.Create {
			return o.Name, b.ensureStream(ctx, op, o.Name, o.Subjects, topic)
		}
		_, err := b.js.Stream(ctx, o.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return "", wrap(broker.ErrNoStream, err, "nats broker: %s: stream %q does not exist in nats at %s: create it (broker.CreateStream) or name another", op, o.Name, b.url)
		case err != nil:
			return "", b.opError(op, b.jetStreamMissing(ctx, err))
		}
		return o.Name, nil
	}
	if name, ok := b.topicStreams.Load(topic); ok {
		return name.(string), nil
	}
	name, err := b.js.StreamNameBySubject(ctx, topic)
	switch {
	case err == nil:
		b.topicStreams.Store(topic, name)
		return name, nil
	case errors.Is(err, jetstream.ErrStreamNotFound) && o.Create:
		name = StreamName(topic)
		if err := b.ensureStream(ctx, op, name, nil, topic); err != nil {
			return "", err
		}
		b.topicStreams.Store(topic, name)
		return name, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return "", b.noStream(op, topic, err)
	default:
		return "", b.opError(op, b.jetStreamMissing(ctx, err))
	}
}

// durableConsumer finds the durable consumer of stream, or creates it to
// follow topic.
func (b *Broker) durableConsumer(ctx context.Context, op, stream, topic string, o broker.SubscribeOptions) (jetstream.Consumer, error) {
	for attempt := 0; ; attempt++ {
		cons, err := b.js.Consumer(ctx, stream, o.Durable)
		if err == nil {
			cfg := cons.CachedInfo().Config
			if cfg.FilterSubject != topic && !slices.Contains(cfg.FilterSubjects, topic) {
				filter := cfg.FilterSubject
				if filter == "" && len(cfg.FilterSubjects) > 0 {
					filter = fmt.Sprint(cfg.FilterSubjects)
				}
				return nil, fmt.Errorf("nats broker: %s: durable %q of stream %q follows %q, not %q: use another durable name, or delete the consumer (nats consumer rm %s %s)",
					op, o.Durable, stream, filter, topic, stream, o.Durable)
			}
			return cons, nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, b.opError(op, err)
		}
		cfg := jetstream.ConsumerConfig{
			Durable:       o.Durable,
			Description:   fmt.Sprintf("micro durable subscription to %s", topic),
			FilterSubject: topic,
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       o.AckWait,
		}
		if o.DeliverNew {
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		}
		cons, err = b.js.CreateConsumer(ctx, stream, cfg)
		if errors.Is(err, jetstream.ErrConsumerExists) && attempt == 0 {
			continue // made by another subscriber meanwhile
		}
		if err != nil {
			return nil, b.opError(op, err)
		}
		return cons, nil
	}
}

// redeliveryDelay is how long a durable consumer waits before it delivers a
// message again after its handler failed for the nth time: 100ms, doubling,
// at most 30s.
func redeliveryDelay(deliveries uint64) time.Duration {
	const first, most = 100 * time.Millisecond, 30 * time.Second
	if deliveries == 0 {
		deliveries = 1
	}
	shift := min(deliveries-1, 9)
	return min(first<<shift, most)
}
