package broker_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/codec"
)

func TestHeader(t *testing.T) {
	h := broker.Header{}
	h.Set("Content-Type", "application/json")
	h.Add("X-Tag", "a")
	h.Add("X-Tag", "b")
	cases := []struct {
		key, want string
	}{
		{"Content-Type", "application/json"},
		{"content-type", "application/json"}, // case-insensitive fallback
		{"X-Tag", "a"},
		{"Missing", ""},
	}
	for _, c := range cases {
		if have := h.Get(c.key); have != c.want {
			t.Errorf("Get(%q): want %q, have %q", c.key, c.want, have)
		}
	}
	if have := h.Values("X-Tag"); !slices.Equal(have, []string{"a", "b"}) {
		t.Errorf("Values: want [a b], have %v", have)
	}
	clone := h.Clone()
	clone.Add("X-Tag", "c")
	if len(h["X-Tag"]) != 2 {
		t.Error("Clone shares values with the original")
	}
	h.Del("X-Tag")
	if _, ok := h["X-Tag"]; ok {
		t.Error("Del left the key")
	}
	var nilHeader broker.Header
	if nilHeader.Get("a") != "" || nilHeader.Clone() != nil {
		t.Error("a nil header should read as empty")
	}
}

func TestMessageClone(t *testing.T) {
	m := &broker.Message{Header: broker.Header{"a": {"1"}}, Body: []byte("x"), Topic: "t", ReceivedAt: time.Now(), Sequence: 3}
	c := m.Clone()
	c.Body[0] = 'y'
	c.Header["a"][0] = "2"
	if string(m.Body) != "x" || m.Header.Get("a") != "1" {
		t.Errorf("Clone shares memory: %+v", m)
	}
	if c.Topic != "t" || c.Sequence != 3 {
		t.Errorf("Clone lost fields: %+v", c)
	}
}

func TestEncode(t *testing.T) {
	msg, err := broker.Encode(codec.JSON{}, map[string]string{"name": "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if msg.ContentType() != codec.ContentTypeJSON || string(msg.Body) != `{"name":"Ada"}` {
		t.Errorf("have %q %q", msg.ContentType(), msg.Body)
	}
	if _, err := broker.Encode(codec.Proto{}, "not a message"); !errors.Is(err, codec.ErrUnsupportedType) {
		t.Errorf("want ErrUnsupportedType, have %v", err)
	}
}

func TestPublishOptions(t *testing.T) {
	var ack broker.PublishAck
	cases := []struct {
		name    string
		opts    []broker.PublishOption
		want    broker.PublishOptions
		wantErr string
	}{
		{name: "none"},
		{name: "jetstream", opts: []broker.PublishOption{broker.JetStream()}, want: broker.PublishOptions{JetStream: true}},
		{name: "ack implies jetstream", opts: []broker.PublishOption{broker.AckTo(&ack)}, want: broker.PublishOptions{JetStream: true, Ack: &ack}},
		{name: "stream", opts: []broker.PublishOption{broker.JetStream(), broker.Stream("ORDERS", "orders.>"), broker.CreateStream()},
			want: broker.PublishOptions{JetStream: true, Stream: broker.StreamOptions{Name: "ORDERS", Subjects: []string{"orders.>"}, Create: true}}},
		{name: "flush", opts: []broker.PublishOption{broker.Flush()}, want: broker.PublishOptions{Flush: true}},
		{name: "confirm flushes a broker without confirms", opts: []broker.PublishOption{broker.Confirm()}, want: broker.PublishOptions{Confirm: true, Flush: true}},
		{name: "confirm with jetstream", opts: []broker.PublishOption{broker.Confirm(), broker.JetStream()}, want: broker.PublishOptions{Confirm: true, JetStream: true}},
		{name: "stream without jetstream", opts: []broker.PublishOption{broker.CreateStream()}, wantErr: "broker.JetStream()"},
		{name: "nil ack", opts: []broker.PublishOption{broker.AckTo(nil)}, wantErr: "nil"},
		{name: "bad stream name", opts: []broker.PublishOption{broker.JetStream(), broker.Stream("a.b")}, wantErr: `invalid stream name "a.b"`},
		{name: "bad stream subject", opts: []broker.PublishOption{broker.JetStream(), broker.Stream("S", "a..b")}, wantErr: "invalid topic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have, err := broker.NewPublishOptions(c.opts...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error saying %q, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if have.JetStream != c.want.JetStream || have.Ack != c.want.Ack || have.Flush != c.want.Flush || have.Confirm != c.want.Confirm ||
				have.Stream.Name != c.want.Stream.Name || have.Stream.Create != c.want.Stream.Create ||
				!slices.Equal(have.Stream.Subjects, c.want.Stream.Subjects) {
				t.Errorf("want %+v, have %+v", c.want, have)
			}
		})
	}
}

func TestSubscribeOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    []broker.SubscribeOption
		want    broker.SubscribeOptions
		wantErr string
	}{
		{name: "defaults", want: broker.SubscribeOptions{Concurrency: 1}},
		{name: "queue with dots", opts: []broker.SubscribeOption{broker.Queue("go.micro.srv.greeter")}, want: broker.SubscribeOptions{Queue: "go.micro.srv.greeter", Concurrency: 1}},
		{name: "durable", opts: []broker.SubscribeOption{broker.Durable("d"), broker.DeliverNew(), broker.AckWait(time.Minute), broker.Concurrency(4)},
			want: broker.SubscribeOptions{Durable: "d", DeliverNew: true, AckWait: time.Minute, Concurrency: 4}},
		{name: "empty queue", opts: []broker.SubscribeOption{broker.Queue("")}, wantErr: "queue"},
		{name: "queue with space", opts: []broker.SubscribeOption{broker.Queue("a b")}, wantErr: "queue"},
		{name: "durable with dot", opts: []broker.SubscribeOption{broker.Durable("a.b")}, wantErr: "durable"},
		{name: "zero concurrency", opts: []broker.SubscribeOption{broker.Concurrency(0)}, wantErr: "concurrency"},
		{name: "stream without durable", opts: []broker.SubscribeOption{broker.CreateStream()}, wantErr: "broker.Durable"},
		{name: "zero ack wait", opts: []broker.SubscribeOption{broker.Durable("d"), broker.AckWait(0)}, wantErr: "ack wait"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have, err := broker.NewSubscribeOptions(c.opts...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error saying %q, have %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if have.Queue != c.want.Queue || have.Durable != c.want.Durable || have.DeliverNew != c.want.DeliverNew ||
				have.AckWait != c.want.AckWait || have.Concurrency != c.want.Concurrency {
				t.Errorf("want %+v, have %+v", c.want, have)
			}
		})
	}
}
