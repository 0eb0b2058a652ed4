package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/natsconn"
)

var _ broker.Broker = (*Broker)(nil)

// closeFlushTimeout bounds how long Close waits to send what is buffered.
const closeFlushTimeout = 2 * time.Second

// Broker is a broker.Broker on a NATS connection. Make one with New and
// Close it when done.
type Broker struct {
	nc             *natsgo.Conn
	ownConn        bool
	js             jetstream.JetStream
	url            string // without credentials, for messages
	logger         *slog.Logger
	requestTimeout time.Duration

	// streams caches the streams known to exist, and topicStreams the
	// stream found for a topic, so that publishing with CreateStream asks
	// the server once.
	streams      sync.Map // stream name -> struct{}
	topicStreams sync.Map // topic -> stream name

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}

	wantReplicas int // Options.Replicas
}

// New connects to NATS (or uses WithConn's connection). An unreachable
// server fails at once with an error that wraps broker.ErrUnreachable and
// names the URL and the cause. ctx bounds the connection only.
func New(ctx context.Context, opts ...Option) (*Broker, error) {
	o := DefaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{
		logger:         logger,
		requestTimeout: o.RequestTimeout,
		subs:           map[*subscription]struct{}{},
		wantReplicas:   o.Replicas,
	}
	if o.Conn != nil {
		b.nc, b.url = o.Conn, natsconn.ConnURL(o.Conn)
	} else {
		onEvent := o.OnEvent
		nc, err := natsconn.Connect(ctx, natsconn.Options{
			URL:            o.URL,
			Name:           o.Name,
			ConnectTimeout: o.ConnectTimeout,
			ReconnectWait:  o.ReconnectWait,
			Auth:           o.Auth,
			TLS:            o.TLS,
			OnEvent: func(ev natsconn.Event) {
				b.logEvent(ev)
				if onEvent != nil {
					onEvent(ev)
				}
			},
			NATSOptions: o.NATSOptions,
		})
		if err != nil {
			return nil, connectError(err)
		}
		b.nc, b.ownConn, b.url = nc, true, natsconn.RedactURLs(o.URL)
	}
	js, err := jetstream.New(b.nc)
	if err != nil {
		if b.ownConn {
			b.nc.Close()
		}
		return nil, fmt.Errorf("nats broker: jetstream on nats at %s: %w", b.url, err)
	}
	b.js = js
	return b, nil
}

func (b *Broker) logEvent(ev natsconn.Event) {
	level := slog.LevelInfo
	if ev.Kind == natsconn.Disconnected || ev.Kind == natsconn.AsyncError {
		level = slog.LevelWarn
	}
	attrs := []any{"event", ev.Kind.String(), "url", ev.URL}
	if ev.Subject != "" {
		attrs = append(attrs, "subject", ev.Subject)
	}
	if ev.Err != nil {
		attrs = append(attrs, "error", ev.Err)
	}
	b.logger.Log(context.Background(), level, "nats broker connection", attrs...)
}

// String implements broker.Broker: "nats at nats://127.0.0.1:4222".
func (b *Broker) String() string { return "nats at " + b.url }

// Conn returns the NATS connection.
func (b *Broker) Conn() *natsgo.Conn { return b.nc }

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Publish implements broker.Broker. Without options it hands the message to
// the connection's buffer and returns: no round trip, no allocation beyond
// what nats.go needs for the headers.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message, opts ...broker.PublishOption) error {
	if err := broker.ValidateTopic(topic); err != nil {
		return fmt.Errorf("nats broker: publish: %w", err)
	}
	if msg == nil {
		return fmt.Errorf("nats broker: publish to %q: nil message", topic)
	}
	if len(opts) > 0 {
		return b.publishWith(ctx, topic, msg, opts)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nats broker: publish to %q: %w", topic, err)
	}
	m := natsgo.Msg{Subject: topic, Header: natsgo.Header(msg.Header), Data: msg.Body}
	if err := b.nc.PublishMsg(&m); err != nil {
		return b.opError(fmt.Sprintf("publish to %q", topic), err)
	}
	return nil
}

func (b *Broker) publishWith(ctx context.Context, topic string, msg *broker.Message, opts []broker.PublishOption) error {
	o, err := broker.NewPublishOptions(opts...)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nats broker: publish to %q: %w", topic, err)
	}
	if o.JetStream {
		return b.publishJetStream(ctx, topic, msg, o)
	}
	m := natsgo.Msg{Subject: topic, Header: natsgo.Header(msg.Header), Data: msg.Body}
	if err := b.nc.PublishMsg(&m); err != nil {
		return b.opError(fmt.Sprintf("publish to %q", topic), err)
	}
	if o.Flush {
		if status := b.nc.Status(); status != natsgo.CONNECTED {
			return wrap(broker.ErrUnreachable, nil,
				"nats broker: publish to %q: cannot reach nats at %s: connection %s; the message is buffered until the connection is back",
				topic, b.url, strings.ToLower(status.String()))
		}
		ctx, cancel := b.withTimeout(ctx)
		defer cancel()
		if err := b.nc.FlushWithContext(ctx); err != nil {
			return b.opError(fmt.Sprintf("flush publish to %q", topic), err)
		}
	}
	return nil
}

func (b *Broker) publishJetStream(ctx context.Context, topic string, msg *broker.Message, o broker.PublishOptions) error {
	op := fmt.Sprintf("publish to %q with jetstream", topic)
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	stream := o.Stream.Name
	if o.Stream.Create || stream != "" {
		// Find or make the stream first: publishing to a topic that no
		// stream stores waits for retries before it fails, and a stream
		// named must store the topic.
		var err error
		if stream, err = b.resolveStream(ctx, op, topic, o.Stream); err != nil {
			return err
		}
	}
	m := &natsgo.Msg{Subject: topic, Header: natsgo.Header(msg.Header), Data: msg.Body}
	var pubOpts []jetstream.PublishOpt
	if stream != "" {
		pubOpts = append(pubOpts, jetstream.WithExpectStream(stream))
	}
	ack, err := b.js.PublishMsg(ctx, m, pubOpts...)
	if err != nil && (isNoStream(err) || isStreamMismatch(err)) {
		// The stream may have been deleted: look again next time.
		b.topicStreams.Delete(topic)
		if stream != "" {
			b.streams.Delete(stream)
		}
	}
	switch {
	case err == nil:
	case isNoStream(err):
		if err := b.jetStreamMissing(ctx, err); !isNoStream(err) {
			return b.opError(op, err)
		}
		if stream != "" {
			return wrap(broker.ErrNoStream, err, "nats broker: %s: stream %q does not exist in nats at %s: create it (broker.CreateStream) or name another", op, stream, b.url)
		}
		return b.noStream(op, topic, err)
	case isStreamMismatch(err):
		return wrap(broker.ErrNoStream, err, "nats broker: %s: stream %q does not store topic %q in nats at %s", op, stream, topic, b.url)
	default:
		return b.opError(op, err)
	}
	if o.Ack != nil {
		*o.Ack = broker.PublishAck{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}
	}
	return nil
}

func isNoStream(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, natsgo.ErrNoResponders)
}

// errCodeStreamNotMatch is the server's "expected stream does not match":
// a publish that expected a stream reached another one.
const errCodeStreamNotMatch jetstream.ErrorCode = 10060

func isStreamMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStreamNotMatch
}

// Flush waits until the server has received every message published so
// far, for as long as ctx allows (the request timeout when ctx has no
// deadline). It fails with an error wrapping broker.ErrUnreachable while
// the connection is down; the messages stay buffered and are sent after the
// reconnect.
func (b *Broker) Flush(ctx context.Context) error {
	if b.isClosed() {
		return fmt.Errorf("nats broker: flush: %w", broker.ErrClosed)
	}
	if status := b.nc.Status(); status != natsgo.CONNECTED {
		return wrap(broker.ErrUnreachable, nil,
			"nats broker: flush: cannot reach nats at %s: connection %s; messages are buffered until the connection is back",
			b.url, strings.ToLower(status.String()))
	}
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return b.opError("flush", err)
	}
	return nil
}

// withTimeout adds the request timeout to a ctx that has no deadline.
func (b *Broker) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.requestTimeout)
}

// Close implements broker.Broker: it stops every subscription, sends what
// the connection has buffered and closes the connection if New made it.
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
	if b.ownConn {
		if b.nc.Status() == natsgo.CONNECTED {
			_ = b.nc.FlushTimeout(closeFlushTimeout)
		}
		b.nc.Close()
	}
	return nil
}

func (b *Broker) add(s *subscription) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return broker.ErrClosed
	}
	b.subs[s] = struct{}{}
	return nil
}

func (b *Broker) remove(s *subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}

// StreamName is the stream CreateStream makes for topic when no Stream is
// named: the topic upper-cased, dots as underscores, wildcards spelled out
// ("orders.created" -> ORDERS_CREATED, "orders.>" -> ORDERS_ALL).
func StreamName(topic string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "*", "ANY", ">", "ALL").Replace(topic))
}
