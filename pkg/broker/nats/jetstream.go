package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/natsconn"

	"github.com/microtools/micro/pkg/broker"
)

// ensureStream makes stream exist, creating it with subjects (default: the
// topic alone) when it is missing, and returns the subjects it stores.
func (b *Broker) ensureStream(ctx context.Context, op, stream string, subjects []string, topic string) ([]string, error) {
	if known, ok := b.streams.Load(stream); ok {
		return known.([]string), nil
	}
	info, err := b.js.Stream(ctx, stream)
	if err == nil {
		stored := info.CachedInfo().Config.Subjects
		b.streams.Store(stream, stored)
		return stored, nil
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if len(subjects) == 0 {
			subjects = []string{topic}
		}
		cfg := jetstream.StreamConfig{
			Name:        stream,
			Description: fmt.Sprintf("created by micro for topic %s", topic),
			Subjects:    subjects,
			Storage:     jetstream.FileStorage,
			Replicas:    b.replicas(),
		}
		err = natsconn.WhilePlacing(ctx, func(ctx context.Context) error {
			_, createErr := b.js.CreateStream(ctx, cfg)
			return createErr
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Made by someone else meanwhile, maybe with other subjects.
			return b.ensureStream(ctx, op, stream, nil, topic)
		}
		if err != nil && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) && !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				return nil, fmt.Errorf("nats broker: %s: create stream %q with subjects %v in nats at %s: %w", op, stream, subjects, b.url, err)
			}
		}
	}
	if err != nil {
		return nil, b.opError(op, b.jetStreamMissing(ctx, err))
	}
	b.streams.Store(stream, subjects)
	return subjects, nil
}

// resolveStream finds the stream of a durable subscription to topic, or of
// a JetStream publish: the one named, or the one whose subjects hold topic;
// with Create, one is made when missing. A stream named that stores none of
// the subjects of topic is an error wrapping broker.ErrNoStream: a consumer
// on it would wait forever, a publish would find no stream.
func (b *Broker) resolveStream(ctx context.Context, op, topic string, o broker.StreamOptions) (string, error) {
	if o.Name != "" {
		var subjects []string
		if o.Create {
			var err error
			if subjects, err = b.ensureStream(ctx, op, o.Name, o.Subjects, topic); err != nil {
				return "", err
			}
		} else {
			if known, ok := b.streams.Load(o.Name); ok {
				subjects = known.([]string)
			} else {
				info, err := b.js.Stream(ctx, o.Name)
				switch {
				case errors.Is(err, jetstream.ErrStreamNotFound):
					return "", wrap(broker.ErrNoStream, err, "nats broker: %s: stream %q does not exist in nats at %s: create it (broker.CreateStream) or name another", op, o.Name, b.url)
				case err != nil:
					return "", b.opError(op, b.jetStreamMissing(ctx, err))
				}
				subjects = info.CachedInfo().Config.Subjects
				b.streams.Store(o.Name, subjects)
			}
		}
		// A stream without subjects of its own (a mirror, or one that
		// sources others) may hold anything: it is not checked.
		if len(subjects) > 0 && !slices.ContainsFunc(subjects, func(s string) bool { return subjectsOverlap(s, topic) }) {
			return "", wrap(broker.ErrNoStream, nil, "nats broker: %s: stream %q in nats at %s does not store topic %q (its subjects: %s)",
				op, o.Name, b.url, topic, strings.Join(subjects, ", "))
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
		if _, err := b.ensureStream(ctx, op, name, nil, topic); err != nil {
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

// subjectsOverlap reports whether some subject matches both a and b, each a
// subject or a pattern with "*" (one token) and ">" (one or more at the end).
func subjectsOverlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(at) && i < len(bt); i++ {
		x, y := at[i], bt[i]
		if x == ">" || y == ">" {
			return true
		}
		if x != "*" && y != "*" && x != y {
			return false
		}
	}
	return len(at) == len(bt)
}

// durable is the consumer of a durable subscription: a pull consumer (the
// kind this package makes) or a push consumer someone else made.
type durable struct {
	pull jetstream.Consumer
	push jetstream.PushConsumer
}

func (d durable) info() *jetstream.ConsumerInfo {
	if d.push != nil {
		return d.push.CachedInfo()
	}
	return d.pull.CachedInfo()
}

// durableConsumer finds the durable consumer of stream, pull or push, or
// creates a pull consumer to follow topic. A consumer that follows other
// subjects is an error that says which.
func (b *Broker) durableConsumer(ctx context.Context, op, stream, topic string, o broker.SubscribeOptions) (durable, error) {
	for attempt := 0; ; attempt++ {
		var found durable
		cons, err := b.js.Consumer(ctx, stream, o.Durable)
		if errors.Is(err, jetstream.ErrNotPullConsumer) {
			// A push consumer, made by another tool: consume it on its
			// deliver subject.
			var push jetstream.PushConsumer
			if push, err = b.js.PushConsumer(ctx, stream, o.Durable); err == nil {
				found.push = push
				if info := push.CachedInfo(); info.PushBound && info.Config.DeliverGroup == "" {
					// Without a deliver group every subscriber of the
					// deliver subject gets every message.
					return durable{}, fmt.Errorf("nats broker: %s: durable %q of stream %q is a push consumer delivering to %q, which another subscriber consumes already; without a deliver group each subscriber would get every message: stop the other subscriber, or make the consumer anew with a deliver group",
						op, o.Durable, stream, info.Config.DeliverSubject)
				}
			}
		} else if err == nil {
			found.pull = cons
		}
		if err == nil {
			cfg := found.info().Config
			if !followsTopic(cfg, topic) {
				follows := strconv.Quote(cfg.FilterSubject)
				switch {
				case len(cfg.FilterSubjects) > 0:
					follows = fmt.Sprint(cfg.FilterSubjects)
				case cfg.FilterSubject == "":
					follows = "every subject of the stream"
				}
				return durable{}, fmt.Errorf("nats broker: %s: durable %q of stream %q follows %s, not %q: subscribe to what it follows, use another durable name, or delete the consumer (nats consumer rm %s %s)",
					op, o.Durable, stream, follows, topic, stream, o.Durable)
			}
			return found, nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return durable{}, b.opError(op, err)
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
			return durable{}, b.opError(op, err)
		}
		return durable{pull: cons}, nil
	}
}

// followsTopic reports whether a consumer delivers the messages of topic
// and no others: its filter is topic itself.
func followsTopic(cfg jetstream.ConsumerConfig, topic string) bool {
	return cfg.FilterSubject == topic || slices.Contains(cfg.FilterSubjects, topic)
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
