package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/codec"
)

// TopicMessage is one message of GET /ui/api/subscribe.
type TopicMessage struct {
	Topic  string              `json:"topic"`
	Header map[string][]string `json:"header"`
	// Text is the body when it is UTF-8; Base64 is the body always.
	Text   string `json:"text,omitempty"`
	Base64 string `json:"base64"`
	Size   int    `json:"size"`
	// JSON is the body when it is JSON, or the protobuf body decoded as
	// its Micro-Message-Type (or the type the subscription names).
	JSON        json.RawMessage `json:"json,omitempty"`
	Type        string          `json:"type,omitempty"`
	DecodeError string          `json:"decodeError,omitempty"`
	ReceivedAt  time.Time       `json:"receivedAt"`
	Sequence    uint64          `json:"sequence,omitempty"`
	// Dropped counts the messages left out before this one because the
	// browser read too slowly.
	Dropped int64 `json:"dropped,omitempty"`
}

// messageType finds a message type among the descriptors of service.
func (c *console) messageType(ctx context.Context, service, name string) (protoreflect.MessageType, error) {
	if service != "" {
		if _, err := c.g.services.describe(ctx, service); err != nil {
			return nil, errorf(codes.NotFound, "type %s: cannot read the descriptors of %q: %v", name, service, err)
		}
	}
	mt, err := c.g.resolverFor(service).FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		where := "the built-in types"
		if service != "" {
			where = "the descriptors of " + service
		}
		return nil, errorf(codes.NotFound, "type %s is not in %s: name the service that defines it", name, where)
	}
	return mt, nil
}

// serveSubscribe subscribes to ?topic= (wildcards as the broker has them)
// and streams each message as a Server-Sent Event "message"; ?type= and
// ?service= decode protobuf bodies without a Micro-Message-Type header.
func (c *console) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	if c.opts.Broker == nil {
		c.g.writeError(w, r, errorf(codes.Unimplemented, "this gateway has no broker: the topics page is off"))
		return
	}
	q := r.URL.Query()
	topic := strings.TrimSpace(q.Get("topic"))
	if topic == "" {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "subscribe: give ?topic= (a topic or a pattern)"))
		return
	}
	service, typeName := q.Get("service"), q.Get("type")
	var fixed protoreflect.MessageType
	if typeName != "" {
		mt, err := c.messageType(r.Context(), service, typeName)
		if err != nil {
			c.g.writeError(w, r, err)
			return
		}
		fixed = mt
	}
	messages := make(chan *broker.Message, 256)
	var dropped atomic.Int64
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sub, err := c.opts.Broker.Subscribe(ctx, topic, broker.HandlerFunc(func(_ context.Context, msg *broker.Message) error {
		select {
		case messages <- msg.Clone():
		default:
			dropped.Add(1)
		}
		return nil
	}))
	if err != nil {
		c.g.writeError(w, r, errorf(codes.Unavailable, "subscribe to %q: %v", topic, err))
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher := http.NewResponseController(w)
	send := func(event string, v any) bool {
		data, _ := json.Marshal(v)
		if _, err := w.Write([]byte("event: " + event + "\ndata: " + string(data) + "\n\n")); err != nil {
			return false
		}
		return flusher.Flush() == nil
	}
	if !send("subscribed", map[string]string{"topic": topic}) {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.g.ctx.Done():
			return
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || flusher.Flush() != nil {
				return
			}
		case msg := <-messages:
			out := c.topicMessage(ctx, msg, service, fixed)
			out.Dropped = dropped.Swap(0)
			if !send("message", out) {
				return
			}
		}
	}
}

// topicMessage describes msg for the console, decoding what can be.
func (c *console) topicMessage(ctx context.Context, msg *broker.Message, service string, fixed protoreflect.MessageType) TopicMessage {
	out := TopicMessage{Topic: msg.Topic, Header: map[string][]string(msg.Header), Base64: encodeBase64(string(msg.Body)),
		Size: len(msg.Body), ReceivedAt: msg.ReceivedAt, Sequence: msg.Sequence}
	if out.Header == nil {
		out.Header = map[string][]string{}
	}
	if utf8.Valid(msg.Body) {
		out.Text = string(msg.Body)
	}
	ct := mediaType(msg.ContentType())
	if ct != codec.ContentTypeProto && ct != "application/x-protobuf" && ct != "application/proto" && json.Valid(msg.Body) && len(msg.Body) > 0 {
		out.JSON = json.RawMessage(msg.Body)
		return out
	}
	mt := fixed
	if name := msg.Header.Get(broker.HeaderMessageType); name != "" {
		out.Type = name
		if found, err := c.messageType(ctx, service, name); err == nil {
			mt = found
		} else if mt == nil {
			out.DecodeError = err.Error()
			return out
		}
	}
	if mt == nil {
		return out
	}
	out.Type = string(mt.Descriptor().FullName())
	m := mt.New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: c.g.resolverFor(service)}).Unmarshal(msg.Body, m); err != nil {
		out.DecodeError = "not a " + out.Type + ": " + err.Error()
		return out
	}
	data, err := c.g.jsonFormatter(service)(m)
	if err != nil {
		out.DecodeError = err.Error()
		return out
	}
	out.JSON = data
	return out
}

// publishRequest is the body of POST /ui/api/publish.
type publishRequest struct {
	Topic  string            `json:"topic"`
	Header map[string]string `json:"header"`
	// Body is sent as it is, or, with Type, read as JSON of that message
	// type and sent as protobuf.
	Body    string `json:"body"`
	Type    string `json:"type"`
	Service string `json:"service"`
}

// servePublish publishes one message.
func (c *console) servePublish(w http.ResponseWriter, r *http.Request) {
	if c.opts.Broker == nil {
		c.g.writeError(w, r, errorf(codes.Unimplemented, "this gateway has no broker: the topics page is off"))
		return
	}
	data, err := c.g.readBody(w, r, "")
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	var in publishRequest
	if err := json.Unmarshal(data, &in); err != nil {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "publish: want {\"topic\", \"body\", \"header\", \"type\", \"service\"}: %v", err))
		return
	}
	if in.Topic = strings.TrimSpace(in.Topic); in.Topic == "" || strings.ContainsAny(in.Topic, "*># ") {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "publish: topic %q: name one topic, without wildcards or spaces", in.Topic))
		return
	}
	msg := &broker.Message{Header: broker.Header{}, Body: []byte(in.Body)}
	for k, v := range in.Header {
		if k = strings.TrimSpace(k); k != "" {
			msg.Header.Set(k, v)
		}
	}
	if in.Type != "" {
		mt, err := c.messageType(r.Context(), in.Service, in.Type)
		if err != nil {
			c.g.writeError(w, r, err)
			return
		}
		m := dynamicpb.NewMessage(mt.Descriptor())
		if err := call.ParseJSON([]byte(in.Body), m, c.g.resolverFor(in.Service)); err != nil {
			c.g.writeError(w, r, errorf(codes.InvalidArgument, "publish: body as %s: %v", in.Type, err))
			return
		}
		if msg.Body, err = proto.Marshal(m); err != nil {
			c.g.writeError(w, r, errorf(codes.InvalidArgument, "publish: encode %s: %v", in.Type, err))
			return
		}
		msg.Header.Set(broker.HeaderContentType, codec.ContentTypeProto)
		msg.Header.Set(broker.HeaderMessageType, in.Type)
	} else if msg.Header.Get(broker.HeaderContentType) == "" {
		ct := "text/plain; charset=utf-8"
		if json.Valid(msg.Body) {
			ct = "application/json"
		}
		msg.Header.Set(broker.HeaderContentType, ct)
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.g.opts.Timeout)
	defer cancel()
	if err := c.opts.Broker.Publish(ctx, in.Topic, msg); err != nil {
		c.g.writeError(w, r, errorf(codes.Unavailable, "publish to %q: %v", in.Topic, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": in.Topic, "size": len(msg.Body), "header": msg.Header})
}
