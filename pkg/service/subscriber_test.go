package service_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
	natsbroker "github.com/microtools/micro/pkg/broker/nats"
	"github.com/microtools/micro/pkg/service"
)

// newNATSBroker starts an embedded NATS server and connects a broker to it.
func newNATSBroker(t *testing.T) (*natsbroker.Broker, *testenv.NATSServer) {
	t.Helper()
	srv := testenv.NATS(t)
	return connectBroker(t, srv.URL()), srv
}

func connectBroker(t *testing.T, url string) *natsbroker.Broker {
	t.Helper()
	b, err := natsbroker.New(testContext(t), natsbroker.WithURL(url))
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func loggerTo(buf *testutil.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestSubscriberProtoHandler(t *testing.T) {
	b, _ := newNATSBroker(t)
	topic := brokertest.UniqueTopic(t, "proto")
	type event struct {
		username, topic, contentType string
	}
	events := make(chan event, 10)
	logs := &testutil.SyncBuffer{}
	svc := newService(t, newMemoryRegistry(t), newTestServer(false),
		service.Broker(b), service.Logger(loggerTo(logs)),
		service.Subscribe(topic, service.ProtoHandler(func(ctx context.Context, msg *testgrpc.SimpleResponse) error {
			raw, ok := service.MessageFromContext(ctx)
			if !ok {
				return errors.New("no message in the context")
			}
			events <- event{msg.GetUsername(), raw.Topic, raw.ContentType()}
			return nil
		})))
	startService(t, svc)

	protoBody, err := proto.Marshal(&testgrpc.SimpleResponse{Username: "Grace"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		contentType string
		body        []byte
		want        string
	}{
		{"json", "application/json", []byte(`{"username":"Ada","unknownField":1}`), "Ada"},
		{"protobuf", "application/protobuf", protoBody, "Grace"},
		{"json without content type", "", []byte(` {"username":"Alan"}`), "Alan"},
		{"protobuf without content type", "", protoBody, "Grace"},
		{"json with charset", "application/json; charset=utf-8", []byte(`{"username":"Barbara"}`), "Barbara"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := &broker.Message{Body: c.body}
			if c.contentType != "" {
				msg.Header = broker.Header{broker.HeaderContentType: {c.contentType}}
			}
			brokertest.Publish(t, b, topic, msg)
			select {
			case ev := <-events:
				if ev.username != c.want || ev.topic != topic || ev.contentType != c.contentType {
					t.Errorf("want %s on %s (%q), have %+v", c.want, topic, c.contentType, ev)
				}
			case <-time.After(brokertest.Wait):
				t.Fatal("not handled")
			}
		})
	}

	// What does not decode never reaches the handler and is logged.
	brokertest.Publish(t, b, topic, &broker.Message{Header: broker.Header{"Content-Type": {"text/plain"}}, Body: []byte("hi")})
	brokertest.Publish(t, b, topic, &broker.Message{Header: broker.Header{"Content-Type": {"application/json"}}, Body: []byte("{")})
	waitFor(t, brokertest.Wait, "the dropped events logged", func() bool {
		return strings.Count(logs.String(), `msg="event dropped: it cannot be handled"`) == 2
	})
	if !strings.Contains(logs.String(), `content type \"text/plain\"`) {
		t.Errorf("want the content type named in the log:\n%s", logs)
	}
	select {
	case ev := <-events:
		t.Errorf("an undecodable message reached the handler: %+v", ev)
	default:
	}
}

// TestSubscriberQueueDefaultSharesWork: two instances of a service share the
// messages of a topic; with Broadcast each gets them all.
func TestSubscriberQueueDefaultSharesWork(t *testing.T) {
	_, srv := newNATSBroker(t)
	reg := newMemoryRegistry(t)
	topic := brokertest.UniqueTopic(t, "shared")
	const n = 100
	var shared, broadcast [2]atomic.Int32
	for i := range 2 {
		svc := newService(t, reg, newTestServer(false), service.Broker(connectBroker(t, srv.URL())),
			service.Subscribe(topic, service.BytesHandler(func(context.Context, []byte) error {
				shared[i].Add(1)
				return nil
			})),
			service.Subscribe(topic, service.BytesHandler(func(context.Context, []byte) error {
				broadcast[i].Add(1)
				return nil
			}), service.Broadcast()))
		startService(t, svc)
	}
	pub := connectBroker(t, srv.URL())
	for i := range n {
		brokertest.Publish(t, pub, topic, &broker.Message{Body: fmt.Appendf(nil, "%d", i)})
	}
	waitFor(t, brokertest.Wait, "every message handled", func() bool {
		return shared[0].Load()+shared[1].Load() >= n && broadcast[0].Load() >= n && broadcast[1].Load() >= n
	})
	time.Sleep(100 * time.Millisecond) // let any duplicate arrive
	if a, b := shared[0].Load(), shared[1].Load(); a+b != n || a == 0 || b == 0 {
		t.Errorf("want %d messages split between the two instances, have %d and %d", n, a, b)
	}
	if a, b := broadcast[0].Load(), broadcast[1].Load(); a != n || b != n {
		t.Errorf("broadcast: want %d each, have %d and %d", n, a, b)
	}
}

func TestSubscriberPanicIsRecovered(t *testing.T) {
	b, _ := newNATSBroker(t)
	topic := brokertest.UniqueTopic(t, "panic")
	logs := &testutil.SyncBuffer{}
	handled := make(chan string, 10)
	svc := newService(t, newMemoryRegistry(t), newTestServer(false), service.Broker(b), service.Logger(loggerTo(logs)),
		service.Subscribe(topic, service.BytesHandler(func(_ context.Context, body []byte) error {
			if string(body) == "boom" {
				panic("handler exploded")
			}
			handled <- string(body)
			return nil
		}), service.Concurrency(1)))
	startService(t, svc)
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("boom")})
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("next")})
	select {
	case body := <-handled:
		if body != "next" {
			t.Errorf("want next handled, have %q", body)
		}
	case <-time.After(brokertest.Wait):
		t.Fatal("the message after the panic was not handled")
	}
	waitFor(t, brokertest.Wait, "the panic logged", func() bool {
		return strings.Contains(logs.String(), `msg="event handler panicked"`)
	})
	for _, want := range []string{`panic="handler exploded"`, "topic=" + topic, "stack=", "subscriber_test.go"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("want %q in the log:\n%s", want, logs)
		}
	}
}

func TestSubscriberErrorsAreLogged(t *testing.T) {
	b, _ := newNATSBroker(t)
	topic := brokertest.UniqueTopic(t, "errors")
	logs := &testutil.SyncBuffer{}
	svc := newService(t, newMemoryRegistry(t), newTestServer(false), service.Broker(b), service.Logger(loggerTo(logs)),
		service.Subscribe(topic, service.BytesHandler(func(context.Context, []byte) error {
			return errors.New("database down")
		})))
	startService(t, svc)
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("x")})
	waitFor(t, brokertest.Wait, "the error logged", func() bool {
		line := logs.String()
		return strings.Contains(line, `msg="event handler failed"`) && strings.Contains(line, "topic="+topic) &&
			strings.Contains(line, `error="database down"`)
	})
}

func TestSubscriberConcurrencyBound(t *testing.T) {
	b, _ := newNATSBroker(t)
	topic := brokertest.UniqueTopic(t, "bound")
	const limit, n = 3, 20
	var running, peak, done atomic.Int32
	release := make(chan struct{})
	svc := newService(t, newMemoryRegistry(t), newTestServer(false), service.Broker(b),
		service.Subscribe(topic, service.BytesHandler(func(ctx context.Context, _ []byte) error {
			now := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			done.Add(1)
			return nil
		}), service.Concurrency(limit)))
	startService(t, svc)
	for range n {
		brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("x")})
	}
	waitFor(t, brokertest.Wait, fmt.Sprintf("%d handlers running", limit), func() bool { return running.Load() == limit })
	time.Sleep(100 * time.Millisecond) // more would start within this if the bound leaked
	if p := peak.Load(); p != limit {
		t.Errorf("want at most %d handlers at once, have a peak of %d", limit, p)
	}
	close(release)
	waitFor(t, brokertest.Wait, "every message handled", func() bool { return done.Load() == n })
}

// TestStopDrainsSubscriptions: Stop deregisters first, then lets the
// handler in progress finish before it returns, and nothing is delivered
// after.
func TestStopDrainsSubscriptions(t *testing.T) {
	b, _ := newNATSBroker(t)
	topic := brokertest.UniqueTopic(t, "stop")
	reg := newMemoryRegistry(t)
	logs := &testutil.SyncBuffer{}
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var finished atomic.Bool
	svc := newService(t, reg, newTestServer(false), service.Broker(b), service.Logger(loggerTo(logs)),
		service.Subscribe(topic, service.BytesHandler(func(ctx context.Context, _ []byte) error {
			entered <- struct{}{}
			select {
			case <-release:
				finished.Store(true)
			case <-ctx.Done():
			}
			return nil
		})))
	if err := svc.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("x")})
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- svc.Stop(testContext(t)) }()
	waitFor(t, 5*time.Second, "deregistration", func() bool { return len(registeredNodes(t, reg, "test")) == 0 })
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !finished.Load() {
		t.Error("the handler did not finish")
	}
	logText := logs.String()
	if d, u := strings.Index(logText, `msg=deregistered`), strings.Index(logText, `msg=unsubscribed`); d < 0 || u < 0 || d > u {
		t.Errorf("want deregistered before unsubscribed:\n%s", logText)
	}
}

func TestStartFailsWhenSubscribeFails(t *testing.T) {
	b, _ := newNATSBroker(t)
	_ = b.Close()
	reg := newMemoryRegistry(t)
	svc := newService(t, reg, newTestServer(false), service.Broker(b),
		service.Subscribe("a", service.BytesHandler(func(context.Context, []byte) error { return nil })))
	err := svc.Start(testContext(t))
	if !errors.Is(err, broker.ErrClosed) || !strings.Contains(err.Error(), `subscribe to "a"`) {
		t.Fatalf("want a subscribe error wrapping ErrClosed, have %v", err)
	}
	if nodes := registeredNodes(t, reg, "test"); len(nodes) != 0 {
		t.Errorf("want nothing registered, have %v", nodes)
	}
}

func TestSubscribeOptionErrors(t *testing.T) {
	h := service.BytesHandler(func(context.Context, []byte) error { return nil })
	cases := []struct {
		name string
		opts []service.Option
		want string
	}{
		{"no broker", []service.Option{service.Subscribe("a", h)}, "no broker"},
		{"bad topic", []service.Option{service.Subscribe("a..b", h)}, "invalid topic"},
		{"nil handler", []service.Option{service.Subscribe("a", nil)}, "handler is nil"},
		{"bad concurrency", []service.Option{service.Subscribe("a", h, service.Concurrency(0))}, "concurrency"},
		{"bad queue", []service.Option{service.Subscribe("a", h, service.Queue("a b"))}, "queue"},
		{"nil broker", []service.Option{service.Broker(nil)}, "broker is nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]service.Option{service.Name("test"), service.Registry(newMemoryRegistry(t))}, c.opts...)
			_, err := service.New(opts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error saying %q, have %v", c.want, err)
			}
		})
	}
}
