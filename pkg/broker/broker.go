package broker

import (
	"context"
	"strings"
	"time"

	"github.com/microtools/micro/pkg/codec"
)

// Broker publishes messages to topics and delivers them to subscriptions.
// Implementations are safe for concurrent use.
type Broker interface {
	// Publish sends msg to topic. The broker does not keep msg after
	// Publish returns, so the caller may reuse it. A topic with wildcards
	// or other invalid characters fails with ErrInvalidTopic and sends
	// nothing.
	Publish(ctx context.Context, topic string, msg *Message, opts ...PublishOption) error
	// Subscribe calls h for each message published to topic, which may hold
	// wildcards, until the subscription is unsubscribed or drained or the
	// broker is closed. ctx bounds the subscribe call only; h receives a
	// context that ends when the subscription stops.
	Subscribe(ctx context.Context, topic string, h Handler, opts ...SubscribeOption) (Subscription, error)
	// String names the broker and where it is: "nats at nats://127.0.0.1:4222".
	String() string
	// Close stops every subscription, as Unsubscribe does, and releases the
	// broker's connection. It is safe to call more than once.
	Close() error
}

// Handler handles messages delivered to a subscription.
type Handler interface {
	// Handle handles one message. ctx ends when the subscription stops.
	// msg and its header and body are the handler's own until Handle
	// returns; keep copies to use them later.
	Handle(ctx context.Context, msg *Message) error
}

// HandlerFunc is a function that is a Handler.
type HandlerFunc func(ctx context.Context, msg *Message) error

var _ Handler = HandlerFunc(nil)

// Handle implements Handler by calling f.
func (f HandlerFunc) Handle(ctx context.Context, msg *Message) error { return f(ctx, msg) }

// Subscription is a running subscription.
type Subscription interface {
	// Topic is the topic (or pattern) subscribed to.
	Topic() string
	// Queue is the queue group shared with other subscribers, or "" when
	// this subscriber gets every message. For a durable subscription it is
	// the durable name.
	Queue() string
	// Unsubscribe stops delivery at once. Messages received but not yet
	// handled are dropped (a durable subscription gets them again later);
	// handlers still running see their context end. It does not wait for
	// them, so it may be called from a handler. It is safe to call more than
	// once.
	Unsubscribe() error
	// Drain stops receiving, handles the messages already received and
	// waits for running handlers to return, for as long as ctx allows;
	// then it stops as Unsubscribe does and returns ctx's error. Calling it
	// from a handler of the same subscription waits for ctx to end.
	Drain(ctx context.Context) error
}

// Header names micro sets and reads.
const (
	// HeaderContentType names the codec of the body, such as
	// "application/json" or "application/protobuf".
	HeaderContentType = "Content-Type"
	// HeaderMessageType names the protobuf message type of a body encoded
	// as application/protobuf, fully qualified ("greeter.v1.Greeted"), so
	// that a subscriber with the descriptors can decode it. `micro publish
	// --type` sets it.
	HeaderMessageType = "Micro-Message-Type"
)

// Header holds a message's headers. Keys are case-sensitive and may have
// several values, as in NATS (and unlike net/http, which canonicalises
// keys): Header converts to and from nats.Header without copying.
type Header map[string][]string

// Get returns the first value of key, or "". When no key matches exactly,
// it looks for one that differs only in case, so "content-type" finds
// "Content-Type".
func (h Header) Get(key string) string {
	if vs := h[key]; len(vs) > 0 {
		return vs[0]
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, key) {
			return vs[0]
		}
	}
	return ""
}

// Values returns every value of key exactly as spelled.
func (h Header) Values(key string) []string { return h[key] }

// Set replaces the values of key with value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Add appends value to the values of key.
func (h Header) Add(key, value string) { h[key] = append(h[key], value) }

// Del removes key.
func (h Header) Del(key string) { delete(h, key) }

// Clone returns a deep copy of h, or nil when h is nil.
func (h Header) Clone() Header {
	if h == nil {
		return nil
	}
	out := make(Header, len(h))
	for k, vs := range h {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Message is what is published and delivered. Publish reads only Header and
// Body; the other fields are set on messages a subscription delivers.
type Message struct {
	// Header holds the headers; nil means none.
	Header Header
	// Body is the payload, encoded as Header's Content-Type says.
	Body []byte

	// Topic is the topic the message was published to (with wildcard
	// subscriptions, the concrete topic).
	Topic string
	// ReceivedAt is when this process received the message.
	ReceivedAt time.Time
	// Stream and Sequence say where a message delivered by a durable
	// subscription is stored; zero for core delivery.
	Stream   string
	Sequence uint64
	// Deliveries counts the deliveries of this message to the durable
	// subscription, 1 the first time; zero for core delivery.
	Deliveries uint64
}

// ContentType returns the Content-Type header, or "".
func (m *Message) ContentType() string { return m.Header.Get(HeaderContentType) }

// Clone returns a deep copy of m.
func (m *Message) Clone() *Message {
	out := *m
	out.Header = m.Header.Clone()
	if m.Body != nil {
		out.Body = append([]byte(nil), m.Body...)
	}
	return &out
}

// Encode returns a message whose body is v encoded with c and whose
// Content-Type header is c's content type.
func Encode(c codec.Codec, v any) (*Message, error) {
	body, err := c.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &Message{Header: Header{HeaderContentType: {c.ContentType()}}, Body: body}, nil
}

// PublishAck is a stream's acknowledgement of a message published with
// JetStream.
type PublishAck struct {
	// Stream is the stream that stored the message.
	Stream string
	// Sequence is the message's sequence number in Stream.
	Sequence uint64
	// Duplicate is true when the stream already had a message with the
	// same Nats-Msg-Id header and did not store this one.
	Duplicate bool
}
