package nats_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
	natsbroker "github.com/microtools/micro/pkg/broker/nats"
	"github.com/microtools/micro/pkg/natsconn"
)

// newBroker connects a broker to url and closes it when t ends.
func newBroker(t testing.TB, url string, opts ...natsbroker.Option) *natsbroker.Broker {
	t.Helper()
	b, err := natsbroker.New(brokertest.Context(t), append([]natsbroker.Option{natsbroker.WithURL(url)}, opts...)...)
	if err != nil {
		t.Fatalf("new broker at %s: %v", url, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// bareConn is a plain nats.go connection, as another NATS client would use.
func bareConn(t testing.TB, url string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestContract(t *testing.T) {
	srv := testenv.NATS(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker { return newBroker(t, srv.URL()) })
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestUnreachable(t *testing.T) {
	a, b := freeAddress(t), freeAddress(t)
	cases := []struct {
		name, url string
		want      string
	}{
		{"one", "nats://" + a, "nats broker: cannot reach nats at nats://" + a + ": connection refused"},
		{"host:port", a, "nats broker: cannot reach nats at nats://" + a + ": connection refused"},
		{"list with credentials", "nats://ada:secret@" + a + ", " + b,
			"nats broker: cannot reach nats at nats://" + a + ",nats://" + b + ": connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := natsbroker.New(brokertest.Context(t), natsbroker.WithURL(c.url))
			if !errors.Is(err, broker.ErrUnreachable) {
				t.Fatalf("want an error wrapping ErrUnreachable, have %v", err)
			}
			if err.Error() != c.want {
				t.Errorf("want %q, have %q", c.want, err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s to fail, want a fast failure", took)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	srv := testenv.NATS(t)
	cases := []struct {
		name string
		opt  natsbroker.Option
		want string
	}{
		{"empty url", natsbroker.WithURL(" , "), "empty server url"},
		{"missing creds file", natsbroker.WithCredsFile("/nonexistent/x.creds"), "credentials file"},
		{"missing nkey file", natsbroker.WithNKeySeedFile("/nonexistent/x.nk"), "nkey seed file"},
		{"cert without key", natsbroker.WithTLS(natsconn.TLS{CertFile: "c.pem"}), "key"},
		{"missing ca", natsbroker.WithTLS(natsconn.TLS{CAFile: "/nonexistent/ca.pem"}), "tls ca file"},
		{"zero reconnect wait", natsbroker.WithReconnectWait(0), "reconnect wait"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := natsbroker.New(brokertest.Context(t), natsbroker.WithURL(srv.URL()), c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error mentioning %q, have %v", c.want, err)
			}
		})
	}
}

func TestString(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	if want := "nats at " + srv.URL(); b.String() != want {
		t.Errorf("want %q, have %q", want, b.String())
	}
}

// TestInteropFromBareClient: a message published with plain nats.go, such
// as `nats pub -H`, reaches a micro subscriber with headers and body intact.
func TestInteropFromBareClient(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	topic := brokertest.UniqueTopic(t, "interop")
	var c brokertest.Collector
	brokertest.Subscribe(t, b, topic, &c)

	nc := bareConn(t, srv.URL())
	m := natsgo.NewMsg(topic)
	m.Header.Set("Content-Type", "application/json")
	m.Header.Add("X-Multi", "1")
	m.Header.Add("X-Multi", "2")
	m.Data = []byte(`{"name":"Ada"}`)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	have := c.WaitFor(t, 1)[0]
	if string(have.Body) != `{"name":"Ada"}` || have.ContentType() != "application/json" ||
		!slices.Equal(have.Header.Values("X-Multi"), []string{"1", "2"}) || have.Topic != topic {
		t.Errorf("received %+v", have)
	}
}

// TestInteropToBareClient: a message micro publishes reaches a plain
// nats.go subscriber, such as `nats sub`, as native headers and payload.
func TestInteropToBareClient(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	topic := brokertest.UniqueTopic(t, "interop")
	nc := bareConn(t, srv.URL())
	sub, err := nc.SubscribeSync(topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	brokertest.Publish(t, b, topic, &broker.Message{
		Header: broker.Header{"Content-Type": {"application/protobuf"}, "X-Multi": {"1", "2"}},
		Body:   []byte{0x0a, 0x03, 'A', 'd', 'a'},
	})
	m, err := sub.NextMsg(brokertest.Wait)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "\x0a\x03Ada" || m.Header.Get("Content-Type") != "application/protobuf" ||
		!slices.Equal(m.Header.Values("X-Multi"), []string{"1", "2"}) {
		t.Errorf("received header %v data %q", m.Header, m.Data)
	}
}

// TestInvalidTopicSendsNothing watches the whole server while publishing to
// invalid topics.
func TestInvalidTopicSendsNothing(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL())
	nc := bareConn(t, srv.URL())
	var seen atomic.Int32
	if _, err := nc.Subscribe(">", func(*natsgo.Msg) { seen.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"a b", "a..b", ".a", "a.", "a.*", "a.>", "", "a\nb"} {
		err := b.Publish(brokertest.Context(t), topic, &broker.Message{Body: []byte("x")}, broker.Flush())
		if !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("publish to %q: want ErrInvalidTopic, have %v", topic, err)
		}
		if err != nil && !strings.Contains(err.Error(), strconv.Quote(topic)) && topic != "" {
			t.Errorf("publish to %q: the error should name the topic: %v", topic, err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("%d messages reached the server", n)
	}
}

// eventLog records connection events.
type eventLog struct {
	mu     sync.Mutex
	events []natsconn.Event
}

func (l *eventLog) add(ev natsconn.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *eventLog) list() []natsconn.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

func (l *eventLog) has(kind natsconn.EventKind) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.events, func(ev natsconn.Event) bool { return ev.Kind == kind })
}

// TestServerRestart restarts the server under a subscription: the broker
// reconnects, the subscription receives what is published after the
// restart, and the event handler hears of the disconnect and the reconnect.
func TestServerRestart(t *testing.T) {
	srv := testenv.NATS(t)
	var events eventLog
	b := newBroker(t, srv.URL(), natsbroker.WithReconnectWait(50*time.Millisecond), natsbroker.WithEventHandler(events.add))
	topic := brokertest.UniqueTopic(t, "restart")
	var core brokertest.Collector
	brokertest.Subscribe(t, b, topic, &core)
	var queued brokertest.Collector
	brokertest.Subscribe(t, b, topic, &queued, broker.Queue("q"))
	brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("before")})
	core.WaitFor(t, 1)

	srv.Restart(t)
	testutil.Eventually(t, brokertest.Wait, func() error {
		if !events.has(natsconn.Disconnected) || !events.has(natsconn.Reconnected) {
			return fmt.Errorf("events so far: %v", events.list())
		}
		if s := b.Conn().Status(); s != natsgo.CONNECTED {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	// The subscription is sent again on reconnect; publish until it
	// arrives, as the server may see our publish before the resubscribe.
	testutil.Eventually(t, brokertest.Wait, func() error {
		brokertest.Publish(t, b, topic, &broker.Message{Body: []byte("after")}, broker.Flush())
		if core.Len() < 2 || queued.Len() < 2 {
			return fmt.Errorf("core has %d, queue %d", core.Len(), queued.Len())
		}
		return nil
	})
	if last := core.Messages()[1]; string(last.Body) != "after" {
		t.Errorf("want the message published after the restart, have %q", last.Body)
	}
	for _, ev := range events.list() {
		if ev.Kind == natsconn.Reconnected && ev.URL != srv.URL() {
			t.Errorf("reconnect event names %q, want %q", ev.URL, srv.URL())
		}
	}
}

func TestFlushWhileDisconnected(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL(), natsbroker.WithReconnectWait(time.Hour))
	srv.Stop()
	testutil.Eventually(t, brokertest.Wait, func() error {
		if s := b.Conn().Status(); s == natsgo.CONNECTED {
			return errors.New("still connected")
		}
		return nil
	})
	err := b.Publish(brokertest.Context(t), "a", &broker.Message{}, broker.Flush())
	if !errors.Is(err, broker.ErrUnreachable) || !strings.Contains(err.Error(), srv.URL()) {
		t.Errorf("want ErrUnreachable naming %s, have %v", srv.URL(), err)
	}
}

func TestFlush(t *testing.T) {
	srv := testenv.NATS(t)
	b := newBroker(t, srv.URL(), natsbroker.WithReconnectWait(time.Hour))
	nc := bareConn(t, srv.URL())
	sub, err := nc.SubscribeSync("flush.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx := brokertest.Context(t)
	for i := range 100 {
		if err := b.Publish(ctx, "flush."+strconv.Itoa(i), &broker.Message{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	// The server has every message: they reach the other client.
	for i := range 100 {
		if _, err := sub.NextMsg(brokertest.Wait); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}

	srv.Stop()
	testutil.Eventually(t, brokertest.Wait, func() error {
		if s := b.Conn().Status(); s == natsgo.CONNECTED {
			return errors.New("still connected")
		}
		return nil
	})
	if err := b.Flush(ctx); !errors.Is(err, broker.ErrUnreachable) || !strings.Contains(err.Error(), srv.URL()) {
		t.Errorf("disconnected: want ErrUnreachable naming %s, have %v", srv.URL(), err)
	}
	_ = b.Close()
	if err := b.Flush(ctx); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("closed: want ErrClosed, have %v", err)
	}
}

func TestUserInfo(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, Username: "ada", Password: "secret", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	url := ns.ClientURL()
	b := newBroker(t, url, natsbroker.WithUserInfo("ada", "secret"))
	var c brokertest.Collector
	brokertest.Subscribe(t, b, "auth.ok", &c)
	brokertest.Publish(t, b, "auth.ok", &broker.Message{Body: []byte("x")})
	c.WaitFor(t, 1)

	_, err = natsbroker.New(brokertest.Context(t), natsbroker.WithURL(url), natsbroker.WithUserInfo("ada", "wrong"))
	if err == nil || errors.Is(err, broker.ErrUnreachable) || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("wrong password: want a credentials error, not ErrUnreachable, have %v", err)
	}
	if strings.Contains(fmt.Sprint(err), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}
}
