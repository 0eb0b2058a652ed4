package rabbitmq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/microtools/micro/pkg/broker"
)

var _ broker.Broker = (*Broker)(nil)

// heartbeat is the AMQP heartbeat interval: a silent server is taken for
// gone after about twice that.
const heartbeat = 10 * time.Second

// Broker is a broker.Broker on a RabbitMQ connection. Make one with New and
// Close it when done.
type Broker struct {
	servers        []server
	url            string // every server, without credentials, for messages
	user, password string // replace the URL's when user is set
	exchange       string
	name           string
	tls            *tls.Config
	connectTimeout time.Duration
	reconnectWait  time.Duration
	requestTimeout time.Duration
	prefetch       int
	onEvent        func(broker.Event)
	logger         *slog.Logger

	ctx    context.Context // ends with Close: bounds reconnection attempts
	cancel context.CancelFunc

	mu        sync.Mutex
	conn      *amqp.Connection // nil while disconnected
	connURL   string           // the server conn is to
	changed   chan struct{}    // closed when conn changes
	lastCause error            // why the last connection was lost
	closed    bool
	subs      map[*subscription]struct{}

	pubMu sync.Mutex
	pub   *amqp.Channel // plain publishing

	confirmSem chan struct{} // one confirmed publish at a time
	confirm    *confirmChannel

	supervisor sync.WaitGroup
}

// New connects to RabbitMQ and declares the exchange (a durable topic
// exchange named "micro" unless WithExchange says otherwise). An unreachable
// server fails at once with an error that wraps broker.ErrUnreachable and
// names the URL and the cause; refused credentials or virtual host wrap
// broker.ErrAuth. ctx bounds the connection only.
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
	servers, err := parseURLs(o.URL)
	if err != nil {
		return nil, err
	}
	if o.TLS != nil {
		for _, srv := range servers {
			if srv.uri.Scheme != "amqps" {
				return nil, fmt.Errorf("rabbitmq broker: tls is set up but %s is not an amqps:// url: use amqps://host:5671/vhost", srv.redacted)
			}
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	prefetch := o.Prefetch
	b := &Broker{
		servers: servers, url: redactList(servers),
		user: o.User, password: o.Password,
		exchange: o.Exchange, name: o.Name, tls: o.TLS,
		connectTimeout: o.ConnectTimeout, reconnectWait: o.ReconnectWait, requestTimeout: o.RequestTimeout,
		prefetch: prefetch, onEvent: o.OnEvent, logger: logger,
		changed:    make(chan struct{}),
		subs:       map[*subscription]struct{}{},
		confirmSem: make(chan struct{}, 1),
	}
	conn, srv, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.conn, b.connURL = conn, srv.redacted
	b.supervisor.Add(1)
	go b.supervise(conn)
	return b, nil
}

// connect dials the servers in turn and declares the exchange on the first
// that answers. The error is the first server's, or names them all when
// none could be reached.
func (b *Broker) connect(ctx context.Context) (*amqp.Connection, server, error) {
	var first error
	unreachable := 0
	for _, srv := range b.servers {
		conn, err := b.dial(ctx, srv)
		if err == nil {
			if err = b.declareExchange(conn, srv); err == nil {
				return conn, srv, nil
			}
			_ = conn.Close()
		}
		if errors.Is(err, broker.ErrUnreachable) {
			unreachable++
		}
		if first == nil {
			first = err
		}
	}
	if len(b.servers) > 1 && unreachable == len(b.servers) {
		return nil, server{}, wrap(broker.ErrUnreachable, first, "rabbitmq broker: cannot reach rabbitmq at any of %s: %s", b.url, shortCause(first))
	}
	return nil, server{}, first
}

func (b *Broker) dial(ctx context.Context, srv server) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	if b.name != "" {
		props.SetClientConnectionName(b.name)
	}
	cfg := amqp.Config{
		Properties:      props,
		Heartbeat:       heartbeat,
		TLSClientConfig: b.tls,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: b.connectTimeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// For the TLS and AMQP handshakes; amqp091 clears it after.
			_ = conn.SetDeadline(time.Now().Add(b.connectTimeout))
			return conn, nil
		},
	}
	user := srv.uri.Username
	if b.user != "" {
		user = b.user
		cfg.SASL = []amqp.Authentication{&amqp.PlainAuth{Username: b.user, Password: b.password}}
	}
	conn, err := amqp.DialConfig(srv.uri.String(), cfg)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			err = errors.Join(ctx.Err(), err)
		}
		return nil, dialError(srv, user, err)
	}
	return conn, nil
}

// declareExchange declares the durable topic exchange. An exchange of that
// name that exists with other settings (go-micro declares it non-durable by
// default) is used as it is.
func (b *Broker) declareExchange(conn *amqp.Connection, srv server) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitmq broker: open a channel to rabbitmq at %s: %w", srv.redacted, err)
	}
	defer ch.Close()
	err = ch.ExchangeDeclare(b.exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed {
		// The server closed the channel; look with a new one.
		if passive, perr := conn.Channel(); perr == nil {
			defer passive.Close()
			if perr = passive.ExchangeDeclarePassive(b.exchange, amqp.ExchangeTopic, false, false, false, false, nil); perr == nil {
				b.logger.Warn("rabbitmq broker: using the existing exchange as it is", "exchange", b.exchange, "url", srv.redacted, "reason", amqpErr.Reason)
				return nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("rabbitmq broker: declare topic exchange %q in rabbitmq at %s: %w", b.exchange, srv.redacted, err)
	}
	return nil
}

// supervise waits for the connection to be lost, reports it, reconnects
// (every ReconnectWait, until Close), restores the subscriptions and
// reports the reconnection.
func (b *Broker) supervise(conn *amqp.Connection) {
	defer b.supervisor.Done()
	for {
		lost := conn.NotifyClose(make(chan *amqp.Error, 1))
		var cause *amqp.Error
		select {
		case cause = <-lost:
		case <-b.ctx.Done():
			return
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		url := b.connURL
		b.setConnLocked(nil, "")
		if cause != nil {
			b.lastCause = cause
		} else {
			b.lastCause = errors.New("connection closed")
		}
		b.mu.Unlock()
		var err error
		if cause != nil {
			err = errors.New(cause.Reason)
			if cause.Reason == "" {
				err = cause
			}
		}
		b.event(broker.Event{Kind: broker.Disconnected, URL: url, Err: err})

		var srv server
		conn, srv = b.reconnect()
		if conn == nil {
			return // closed
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			_ = conn.Close()
			return
		}
		b.setConnLocked(conn, srv.redacted)
		subs := make([]*subscription, 0, len(b.subs))
		for s := range b.subs {
			subs = append(subs, s)
		}
		b.mu.Unlock()
		restored := 0
		for _, s := range subs {
			if err := s.attach(conn); err != nil {
				if !errors.Is(err, errStopped) {
					b.event(broker.Event{Kind: broker.AsyncError, URL: srv.redacted, Subject: s.topic,
						Err: fmt.Errorf("subscription not restored yet, retrying: %w", err)})
				}
				continue
			}
			restored++
		}
		b.logger.Info("rabbitmq broker reconnected", "url", srv.redacted, "subscriptions", restored)
		b.event(broker.Event{Kind: broker.Reconnected, URL: srv.redacted})
	}
}

// reconnect dials until a server answers or the broker is closed (nil).
func (b *Broker) reconnect() (*amqp.Connection, server) {
	for attempt := 1; ; attempt++ {
		select {
		case <-b.ctx.Done():
			return nil, server{}
		case <-time.After(b.reconnectWait):
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.connectTimeout)
		conn, srv, err := b.connect(ctx)
		cancel()
		if err == nil {
			return conn, srv
		}
		b.logger.Debug("rabbitmq broker reconnect failed", "attempt", attempt, "error", err)
	}
}

func (b *Broker) setConnLocked(conn *amqp.Connection, url string) {
	b.conn, b.connURL = conn, url
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *Broker) event(ev broker.Event) {
	level := slog.LevelInfo
	if ev.Kind == broker.Disconnected || ev.Kind == broker.AsyncError {
		level = slog.LevelWarn
	}
	b.logger.Log(context.Background(), level, "rabbitmq broker connection", "event", ev.String())
	if b.onEvent != nil {
		b.onEvent(ev)
	}
}

// current is the connection, or nil while there is none.
func (b *Broker) current() *amqp.Connection {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn
}

// waitConn returns the connection, waiting for it while it is being
// re-established, for as long as ctx allows.
func (b *Broker) waitConn(ctx context.Context, op string) (*amqp.Connection, error) {
	for {
		b.mu.Lock()
		closed, conn, changed, cause := b.closed, b.conn, b.changed, b.lastCause
		b.mu.Unlock()
		switch {
		case closed:
			return nil, fmt.Errorf("rabbitmq broker: %s: %w", op, broker.ErrClosed)
		case conn != nil && !conn.IsClosed():
			return conn, nil
		}
		var poll <-chan time.Time
		if conn != nil {
			// conn was closed but the supervisor has not seen it yet.
			poll = time.After(20 * time.Millisecond)
		}
		select {
		case <-changed:
		case <-poll:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, fmt.Errorf("rabbitmq broker: %s: %w", op, ctx.Err())
			}
			why := "connection lost"
			if cause != nil {
				why += " (" + cause.Error() + ")"
			}
			return nil, wrap(broker.ErrUnreachable, ctx.Err(),
				"rabbitmq broker: %s: cannot reach rabbitmq at %s: %s and not back in time; reconnecting", op, b.url, why)
		}
	}
}

// String implements broker.Broker: "rabbitmq at amqp://127.0.0.1:5672/
// (exchange micro)".
func (b *Broker) String() string {
	return "rabbitmq at " + b.url + " (exchange " + b.exchange + ")"
}

// Exchange is the topic exchange the broker publishes to.
func (b *Broker) Exchange() string { return b.exchange }

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// withTimeout adds the request timeout to a ctx that has no deadline.
func (b *Broker) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.requestTimeout)
}

// Publish implements broker.Broker: the message goes to the exchange with
// the topic as routing key, its headers as AMQP headers, persistent. While
// the connection is being re-established Publish waits for it, for as long
// as ctx allows (the request timeout when ctx has no deadline).
//
// With broker.Confirm it returns once RabbitMQ has confirmed the message,
// and fails with an error wrapping broker.ErrNoStream when no queue is
// bound for the topic (the message is dropped). A message whose confirm was
// lost with the connection is published again on the next connection: at
// least once, maybe twice. broker.JetStream is not supported.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message, opts ...broker.PublishOption) error {
	if err := routingKey(topic); err != nil {
		return fmt.Errorf("rabbitmq broker: publish: %w", err)
	}
	if msg == nil {
		return fmt.Errorf("rabbitmq broker: publish to %q: nil message", topic)
	}
	o, err := broker.NewPublishOptions(opts...)
	if err != nil {
		return err
	}
	if o.JetStream {
		return fmt.Errorf("rabbitmq broker: publish to %q: jetstream is NATS's; with rabbitmq use publisher confirms (broker.Confirm, `micro publish --confirm`): %w", topic, broker.ErrNotSupported)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rabbitmq broker: publish to %q: %w", topic, err)
	}
	if b.isClosed() {
		return fmt.Errorf("rabbitmq broker: publish to %q: %w", topic, broker.ErrClosed)
	}
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	p := publishing(msg, time.Now())
	if o.Confirm {
		return b.publishConfirmed(ctx, topic, p)
	}
	op := fmt.Sprintf("publish to %q", topic)
	for {
		ch, err := b.publishChannel(ctx, op)
		if err != nil {
			return err
		}
		err = ch.PublishWithContext(ctx, b.exchange, topic, false, false, p)
		if err == nil {
			return nil
		}
		if !isClosedErr(err) {
			return fmt.Errorf("rabbitmq broker: %s in rabbitmq at %s: %w", op, b.url, err)
		}
		// The connection went away under the publish: nothing was sent.
	}
}

// publishChannel returns the channel for plain publishing, opening one on
// the current connection when there is none.
func (b *Broker) publishChannel(ctx context.Context, op string) (*amqp.Channel, error) {
	for {
		b.pubMu.Lock()
		if ch := b.pub; ch != nil && !ch.IsClosed() {
			b.pubMu.Unlock()
			return ch, nil
		}
		b.pubMu.Unlock()
		conn, err := b.waitConn(ctx, op)
		if err != nil {
			return nil, err
		}
		ch, err := conn.Channel()
		if err != nil {
			if isClosedErr(err) {
				continue // waitConn waits for the next connection
			}
			return nil, fmt.Errorf("rabbitmq broker: %s: open a channel to rabbitmq at %s: %w", op, b.url, err)
		}
		b.pubMu.Lock()
		if old := b.pub; old != nil && !old.IsClosed() {
			b.pubMu.Unlock()
			_ = ch.Close()
			return old, nil
		}
		b.pub = ch
		b.pubMu.Unlock()
		return ch, nil
	}
}

// confirmChannel is a channel in confirm mode.
type confirmChannel struct {
	ch       *amqp.Channel
	confirms chan amqp.Confirmation
	returns  chan amqp.Return
}

// publishConfirmed publishes p with mandatory routing and waits for its
// confirm, one message at a time so that a returned (unroutable) message
// is known to be this one. A confirm lost with the connection publishes
// the message again after the reconnect.
func (b *Broker) publishConfirmed(ctx context.Context, topic string, p amqp.Publishing) error {
	op := fmt.Sprintf("publish to %q with confirm", topic)
	select {
	case b.confirmSem <- struct{}{}:
	case <-ctx.Done():
		return wrap(broker.ErrUnreachable, ctx.Err(), "rabbitmq broker: %s: no turn to publish before the deadline", op)
	}
	defer func() { <-b.confirmSem }()
	for attempt := 1; ; attempt++ {
		c, err := b.confirmChannel(ctx, op)
		if err != nil {
			return err
		}
		seq := c.ch.GetNextPublishSeqNo()
		if err := c.ch.PublishWithContext(ctx, b.exchange, topic, true, false, p); err != nil {
			if isClosedErr(err) {
				continue
			}
			return fmt.Errorf("rabbitmq broker: %s in rabbitmq at %s: %w", op, b.url, err)
		}
		done, err := b.awaitConfirm(ctx, op, topic, c, seq)
		if done {
			if attempt > 1 {
				b.logger.Debug("rabbitmq broker published again after a reconnect", "topic", topic, "attempts", attempt)
			}
			return err
		}
		// The channel closed before the confirm: publish again.
	}
}

// awaitConfirm waits for the confirm of message seq. done is false when the
// channel closed first, so that the message must be published again.
func (b *Broker) awaitConfirm(ctx context.Context, op, topic string, c *confirmChannel, seq uint64) (done bool, err error) {
	returned := false
	returns := c.returns
	for {
		select {
		case _, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			returned = true
		case conf, ok := <-c.confirms:
			if !ok {
				b.dropConfirmChannel(c)
				return false, nil
			}
			if conf.DeliveryTag < seq {
				continue // a message given up on before
			}
			switch {
			case !conf.Ack:
				return true, fmt.Errorf("rabbitmq broker: %s: rabbitmq at %s refused the message (nack)", op, b.url)
			case returned:
				return true, wrap(broker.ErrNoStream, nil,
					"rabbitmq broker: %s: no queue is bound for topic %q on exchange %q in rabbitmq at %s: the message was dropped; subscribe first (a --durable subscriber keeps messages while it is away)",
					op, topic, b.exchange, b.url)
			}
			return true, nil
		case <-ctx.Done():
			// The confirm may still come, on a channel nobody reads.
			b.dropConfirmChannel(c)
			_ = c.ch.Close()
			if errors.Is(ctx.Err(), context.Canceled) {
				return true, fmt.Errorf("rabbitmq broker: %s: %w", op, ctx.Err())
			}
			return true, wrap(broker.ErrUnreachable, ctx.Err(),
				"rabbitmq broker: %s: no confirm from rabbitmq at %s before the deadline; the message may or may not have been taken", op, b.url)
		}
	}
}

func (b *Broker) confirmChannel(ctx context.Context, op string) (*confirmChannel, error) {
	for {
		b.pubMu.Lock()
		c := b.confirm
		b.pubMu.Unlock()
		if c != nil && !c.ch.IsClosed() {
			return c, nil
		}
		conn, err := b.waitConn(ctx, op)
		if err != nil {
			return nil, err
		}
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			if ch != nil {
				_ = ch.Close()
			}
			if isClosedErr(err) {
				continue
			}
			return nil, fmt.Errorf("rabbitmq broker: %s: open a confirm channel to rabbitmq at %s: %w", op, b.url, err)
		}
		c = &confirmChannel{
			ch:       ch,
			confirms: ch.NotifyPublish(make(chan amqp.Confirmation, 1)),
			returns:  ch.NotifyReturn(make(chan amqp.Return, 1)),
		}
		b.pubMu.Lock()
		b.confirm = c
		b.pubMu.Unlock()
		return c, nil
	}
}

func (b *Broker) dropConfirmChannel(c *confirmChannel) {
	b.pubMu.Lock()
	if b.confirm == c {
		b.confirm = nil
	}
	b.pubMu.Unlock()
}

// Close implements broker.Broker: it stops every subscription (a durable
// queue keeps what it holds), waits until RabbitMQ has routed what was
// published, and closes the connection.
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
	conn, url := b.conn, b.connURL
	b.conn = nil
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	b.cancel()
	// Closing a channel waits for RabbitMQ's close-ok, which comes after
	// it has routed everything published on the channel before.
	b.pubMu.Lock()
	pub, confirm := b.pub, b.confirm
	b.pub, b.confirm = nil, nil
	b.pubMu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if confirm != nil {
		_ = confirm.ch.Close()
	}
	if conn != nil {
		_ = conn.Close()
	}
	b.supervisor.Wait()
	b.event(broker.Event{Kind: broker.Closed, URL: url})
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
