package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
)

// The RabbitMQ tests run `micro publish` and `micro subscribe` (and greeter)
// with --broker rabbitmq against a real RabbitMQ node that internal/testenv
// starts on 127.0.0.1, and a plain amqp091-go client as the other side of
// interop. A node takes seconds to start, so TestRabbitMQ shares one between
// its subtests, each on topics of its own; the restart test has its own.

// rabbitEnv is the environment of micro and greeter on the broker at url,
// with a memory registry and config directories of the test's own.
func rabbitEnv(t *testing.T, url string, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	return env(append([]string{
		"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/config", "XDG_CACHE_HOME=" + home + "/cache",
		"MICRO_REGISTRY=memory", "MICRO_BROKER=rabbitmq", "MICRO_BROKER_ADDRESS=" + url,
	}, extra...)...)
}

// rabbitTopic is a topic no other test uses: prefix and a random word.
func rabbitTopic(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "." + hex.EncodeToString(b)
}

// numbers returns how often each {"n":N} body arrived in NDJSON lines.
func numbers(t *testing.T, lines []string) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for _, line := range lines {
		var body struct{ N int }
		if err := json.Unmarshal(decodeLine(t, line).Body, &body); err != nil {
			t.Fatalf("body of %q: %v", line, err)
		}
		seen[body.N]++
	}
	return seen
}

func TestRabbitMQ(t *testing.T) {
	pki := testenv.NewPKI(t)
	srv := testenv.RabbitMQWithTLS(t, pki)
	t.Run("RoundTripWithHeaders", func(t *testing.T) { testRabbitRoundTrip(t, srv) })
	t.Run("DurableQueueSharedByThree", func(t *testing.T) { testRabbitSharedDurable(t, srv) })
	t.Run("DurableSubscriberThatWasDownMissesNothing", func(t *testing.T) { testRabbitDurableAway(t, srv) })
	t.Run("PlainAMQPClientToSubscribeAndGreeter", func(t *testing.T) { testRabbitPlainClient(t, srv) })
	t.Run("TLS", func(t *testing.T) { testRabbitTLS(t, srv, pki) })
	t.Run("BadInput", func(t *testing.T) { testRabbitBadInput(t, srv) })
}

// testRabbitTLS: amqps:// with --tls-ca (and MICRO_BROKER_TLS_CA) round
// trips; without the CA the certificate is refused, naming the server.
func testRabbitTLS(t *testing.T, srv *testenv.RabbitMQServer, pki *testenv.PKI) {
	environ := rabbitEnv(t, srv.TLSURL())
	topic := rabbitTopic(t, "secure")
	sub := startSubscriber(t, environ, topic, "--tls-ca", pki.CAFile, "-o", "json")
	if !strings.Contains(sub.stderr.String(), "rabbitmq at amqps://127.0.0.1:") {
		t.Errorf("want the amqps server named: %q", sub.stderr)
	}
	if res := micro(t, append(environ, "MICRO_BROKER_TLS_CA="+pki.CAFile), "publish", topic, "--confirm", `{"secure":true}`); res.code != 0 {
		t.Fatalf("publish over TLS: %s", res)
	}
	if m := decodeLine(t, sub.waitLines(t, 1)[0]); string(m.Body) != `{"secure":true}` {
		t.Errorf("have %+v", m)
	}
	res := micro(t, environ, "publish", topic, "{}")
	t.Logf("without the CA: %s", strings.TrimSpace(res.stderr))
	if res.code != 1 || !strings.Contains(res.stderr, "tls with rabbitmq at amqps://127.0.0.1:") || !strings.Contains(res.stderr, "--tls-ca") ||
		strings.Contains(res.stderr, srv.Password()) {
		t.Errorf("without the CA: want exit 1 about the certificate, have %s", res)
	}
	res = micro(t, rabbitEnv(t, srv.URL()), "publish", topic, "{}", "--tls-ca", pki.CAFile)
	if res.code != 1 || !strings.Contains(res.stderr, "not an amqps:// url") {
		t.Errorf("TLS files with amqp://: want an error, have %s", res)
	}
}

func testRabbitRoundTrip(t *testing.T, srv *testenv.RabbitMQServer) {
	environ := rabbitEnv(t, srv.URL())
	root := rabbitTopic(t, "orders")
	text := startSubscriber(t, environ, root+".*")
	ndjson := startSubscriber(t, environ, root+".>", "-o", "json")
	if stderr := text.stderr.String(); !strings.Contains(stderr, "on rabbitmq at amqp://"+srv.Addr()+"/ (exchange micro)") ||
		strings.Contains(stderr, srv.Password()) {
		t.Errorf("want the broker named without its password: %q", stderr)
	}

	res := micro(t, environ, "publish", root+".created", `{"id": 7, "items": ["tea"]}`, "-H", "Trace-Id:abc123", "-H", "Tenant: acme", "-H", "Tenant:globex")
	if res.code != 0 || res.stdout != "" || res.stderr != "" {
		t.Fatalf("want a silent success, have %s", res)
	}
	want := `[#1] ` + root + `.created Content-Type=application/json Tenant=acme Tenant=globex Trace-Id=abc123 {"id":7,"items":["tea"]}`
	if have := text.waitLines(t, 1)[0]; have != want {
		t.Errorf("text:\nwant %s\nhave %s", want, have)
	}
	m := decodeLine(t, ndjson.waitLines(t, 1)[0])
	if m.Topic != root+".created" || string(m.Body) != `{"id":7,"items":["tea"]}` || m.Encoding != "json" ||
		m.Headers["Trace-Id"][0] != "abc123" || strings.Join(m.Headers["Tenant"], ",") != "acme,globex" ||
		m.Headers["Content-Type"][0] != "application/json" {
		t.Errorf("json: have %+v", m)
	}

	// ">" is one or more words: a deeper topic reaches it, not "*".
	res = micro(t, environ, "publish", root+".created.eu", "--confirm", "plain words")
	if res.code != 0 {
		t.Fatalf("publish --confirm: %s", res)
	}
	if m := decodeLine(t, ndjson.waitLines(t, 2)[1]); m.Topic != root+".created.eu" || m.Headers["Content-Type"][0] != "text/plain; charset=utf-8" {
		t.Errorf("deeper topic: have %+v", m)
	}
	time.Sleep(200 * time.Millisecond)
	if got := text.lines(); len(got) != 1 {
		t.Errorf("%s.* does not match %s.created.eu: have %q", root, root, got)
	}
	for _, s := range []*subscriber{text, ndjson} {
		if code := s.stop(t); code != 0 {
			t.Errorf("Ctrl-C: want exit 0, have %d", code)
		}
	}

	// Without --confirm, publish returns once RabbitMQ has routed what it
	// sent: a run that exits at once loses nothing on a healthy broker.
	bulk := startSubscriber(t, environ, root+".bulk", "--durable", "bulk", "-o", "json")
	if res := micro(t, environ, "publish", root+".bulk", "--count", "500", `{"n":{{.Count}}}`); res.code != 0 {
		t.Fatalf("publish --count 500: %s", res)
	}
	if seen := numbers(t, bulk.waitLines(t, 500)); len(seen) != 500 {
		t.Errorf("want 500 distinct messages, have %d", len(seen))
	}
}

func testRabbitSharedDurable(t *testing.T, srv *testenv.RabbitMQServer) {
	const total = 300
	environ := rabbitEnv(t, srv.URL())
	topic := rabbitTopic(t, "work.items")
	var group []*subscriber
	for range 3 {
		group = append(group, startSubscriber(t, environ, topic, "--durable", "workers", "-o", "json"))
	}
	// The queue is RabbitMQ's own, durable, named after the name and topic.
	ch, err := srv.Dial(t).Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive("workers:"+topic, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("durable queue workers:%s: %v", topic, err)
	}
	if q.Consumers != 3 {
		t.Errorf("want 3 consumers on the queue, have %d", q.Consumers)
	}

	res := micro(t, environ, "publish", topic, "--confirm", "--count", fmt.Sprint(total), `{"n":{{.Count}}}`)
	if res.code != 0 {
		t.Fatalf("publish: %s", res)
	}
	count := func() int {
		n := 0
		for _, s := range group {
			n += len(s.lines())
		}
		return n
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := count(); n < total {
			return fmt.Errorf("%d of %d messages across the group", n, total)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // time for a duplicate to show
	seen := map[int]int{}
	for i, s := range group {
		lines := s.lines()
		if len(lines) == 0 {
			t.Errorf("subscriber %d got none of %d messages", i+1, total)
		}
		for n, c := range numbers(t, lines) {
			seen[n] += c
		}
	}
	for n := 1; n <= total; n++ {
		if seen[n] != 1 {
			t.Errorf("message %d was received %d times across the group, want once", n, seen[n])
		}
	}
	if len(seen) != total {
		t.Errorf("want %d distinct messages, have %d", total, len(seen))
	}
}

func testRabbitDurableAway(t *testing.T, srv *testenv.RabbitMQServer) {
	const total = 1000
	environ := rabbitEnv(t, srv.URL())
	topic := rabbitTopic(t, "jobs.run")

	first := startSubscriber(t, environ, topic, "--durable", "worker", "-o", "json")
	if res := micro(t, environ, "publish", topic, "--confirm", "--count", "5", `{"batch":1,"n":{{.Count}}}`); res.code != 0 {
		t.Fatalf("publish: %s", res)
	}
	first.waitLines(t, 5)
	if code := first.stop(t); code != 0 {
		t.Fatalf("Ctrl-C: want exit 0, have %d", code)
	}

	// Published while nobody listens: the durable queue keeps them.
	if res := micro(t, environ, "publish", topic, "--confirm", "--count", fmt.Sprint(total), `{"n":{{.Count}}}`); res.code != 0 {
		t.Fatalf("publish while away: %s", res)
	}
	res := micro(t, environ, "subscribe", topic, "--durable", "worker", "-o", "json", "--count", fmt.Sprint(total), "--timeout", "60s")
	if res.code != 0 {
		t.Fatalf("the subscriber back: %s", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	seen := numbers(t, lines)
	for n := 1; n <= total; n++ {
		if seen[n] != 1 {
			t.Errorf("message %d arrived %d times, want once", n, seen[n])
		}
	}
	if m := decodeLine(t, lines[0]); m.Stream != "worker:"+topic {
		t.Errorf("want the queue named in the message's stream field, have %q", m.Stream)
	}
}

func testRabbitPlainClient(t *testing.T, srv *testenv.RabbitMQServer) {
	environ := rabbitEnv(t, srv.URL())
	sub := startSubscriber(t, environ, "greeter.greeted", "-o", "json")
	greeter := start(t, append(environ, "MICRO_SERVER_ADDRESS=127.0.0.1:0"), greeterBin)
	testutil.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(greeter.Output(), "msg=subscribed") || !strings.Contains(greeter.Output(), "topic=greeter.greeted queue=greeter") {
			return fmt.Errorf("greeter has not subscribed yet:\n%s", greeter.Output())
		}
		return nil
	})

	// A go-micro publisher: exchange micro, routing key = topic,
	// Content-Type as an AMQP header.
	ch, err := srv.Dial(t).Channel()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = ch.PublishWithContext(ctx, "micro", "greeter.greeted", false, false, amqp.Publishing{
		Headers: amqp.Table{"Content-Type": "application/json", "Micro-Topic": "greeter.greeted"},
		Body:    []byte(`{"name":"Ada","at":"2025-01-01T10:00:00Z"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	m := decodeLine(t, sub.waitLines(t, 1)[0])
	if m.Topic != "greeter.greeted" || string(m.Body) != `{"name":"Ada","at":"2025-01-01T10:00:00Z"}` || m.Encoding != "json" ||
		m.Headers["Content-Type"][0] != "application/json" || m.Headers["Micro-Topic"][0] != "greeter.greeted" {
		t.Errorf("micro subscribe: have %+v", m)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(greeter.Output(), `msg="handled event" topic=greeter.greeted name=Ada at=2025-01-01T10:00:00Z`) {
			return fmt.Errorf("greeter has not handled the event:\n%s", greeter.Output())
		}
		return nil
	})

	// A protobuf body, as a go-micro service publishing with the proto
	// codec sends it.
	body, err := proto.Marshal(&greeterpb.Greeted{Name: "Grace"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(ctx, "micro", "greeter.greeted", false, false, amqp.Publishing{
		Headers: amqp.Table{"Content-Type": "application/protobuf"}, Body: body,
	}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(greeter.Output(), `msg="handled event" topic=greeter.greeted name=Grace`) {
			return fmt.Errorf("greeter has not handled the protobuf event:\n%s", greeter.Output())
		}
		return nil
	})

	// The other way: what micro publishes, a plain consumer reads as
	// go-micro's broker would.
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	topic := rabbitTopic(t, "plain")
	if err := ch.QueueBind(q.Name, topic, "micro", false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := micro(t, environ, "publish", topic, `{"id":1}`, "-H", "Trace-Id:t1"); res.code != 0 {
		t.Fatal(res)
	}
	select {
	case d := <-deliveries:
		if d.RoutingKey != topic || string(d.Body) != `{"id":1}` || d.Headers["Content-Type"] != "application/json" ||
			d.Headers["Trace-Id"] != "t1" || d.ContentType != "application/json" || d.DeliveryMode != amqp.Persistent {
			t.Errorf("plain consumer: have key %q body %q headers %v content type %q mode %d", d.RoutingKey, d.Body, d.Headers, d.ContentType, d.DeliveryMode)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the plain consumer got nothing")
	}
}

func testRabbitBadInput(t *testing.T, srv *testenv.RabbitMQServer) {
	closed := freeAddr(t)
	cases := []struct {
		name    string
		env     []string
		args    []string
		code    int
		want    []string
		notWant []string
	}{
		{"unreachable (publish)", rabbitEnv(t, "amqp://guest:guest@"+closed+"/"), []string{"publish", "orders.created", "{}"}, 1,
			[]string{"cannot reach rabbitmq at amqp://" + closed + "/", "connection refused", "docs/broker.md"}, []string{"guest:guest"}},
		{"unreachable (subscribe)", rabbitEnv(t, "amqp://guest:guest@"+closed+"/"), []string{"subscribe", "orders.created"}, 1,
			[]string{"cannot reach rabbitmq at amqp://" + closed + "/", "connection refused"}, nil},
		{"wrong password", rabbitEnv(t, srv.URLWith(srv.User(), "not-the-password")), []string{"publish", "orders.created", "{}"}, 1,
			[]string{"rabbitmq at amqp://" + srv.Addr() + "/ refused the credentials of user \"micro\"", "check the user and password of the broker address"}, []string{"not-the-password"}},
		{"unknown user (subscribe)", rabbitEnv(t, srv.URLWith("nobody", "x")), []string{"subscribe", "orders.created"}, 1,
			[]string{"refused the credentials of user \"nobody\""}, nil},
		{"unknown virtual host", rabbitEnv(t, strings.TrimSuffix(srv.URL(), "/")+"/nosuch"), []string{"publish", "orders.created", "{}"}, 1,
			[]string{"refused virtual host \"nosuch\""}, []string{srv.Password()}},
		{"not an amqp url", rabbitEnv(t, "http://"+srv.Addr()), []string{"publish", "orders.created", "{}"}, 1,
			[]string{"server url", "amqp://user:password@host:port/vhost"}, nil},
		{"unknown broker", rabbitEnv(t, srv.URL(), "MICRO_BROKER=kafka"), []string{"publish", "orders.created", "{}"}, 2,
			[]string{`unknown broker "kafka"`, "nats, rabbitmq or memory"}, nil},
		{"jetstream on rabbitmq", rabbitEnv(t, srv.URL()), []string{"publish", "orders.created", "{}", "--jetstream"}, 1,
			[]string{"--confirm"}, nil},
		{"confirm with nobody bound", rabbitEnv(t, srv.URL()), []string{"publish", rabbitTopic(t, "nobody"), "{}", "--confirm"}, 1,
			[]string{"no queue is bound for topic", "the message was dropped"}, nil},
		{"token on rabbitmq", rabbitEnv(t, srv.URL(), "MICRO_BROKER_TOKEN=tok"), []string{"publish", "orders.created", "{}"}, 1,
			[]string{"rabbitmq takes a user and password"}, nil},
		{"amqp wildcard word", rabbitEnv(t, srv.URL()), []string{"subscribe", "orders.#"}, 1,
			[]string{`"#" is a wildcard in AMQP`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			res := micro(t, c.env, append(c.args, "--timeout", "10s")...)
			took := time.Since(start)
			t.Logf("exit %d in %s: %s", res.code, took.Round(time.Millisecond), strings.TrimSpace(res.stderr))
			if res.code != c.code {
				t.Fatalf("want exit %d, have %s", c.code, res)
			}
			for _, w := range c.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(res.stderr, w) {
					t.Errorf("stderr shows %q:\n%s", w, res.stderr)
				}
			}
			if strings.Contains(res.stderr, "panic") || strings.Count(strings.TrimSpace(res.stderr), "\n") > 1 {
				t.Errorf("want one or two lines, no panic:\n%s", res.stderr)
			}
			if took > 5*time.Second {
				t.Errorf("took %s: a bad broker setting should fail fast", took)
			}
		})
	}
}

// TestRabbitMQBrokerRestart restarts RabbitMQ while `micro publish
// --confirm` sends 1,000 messages to a durable subscriber. The subscriber
// reports the disconnect and the reconnect on stderr; the publisher exits 0
// because the broker publishes again every message whose confirm was lost
// with the connection (it is the broker package that retries, not a loop in
// this test); and every message arrives, some maybe twice (at least once).
func TestRabbitMQBrokerRestart(t *testing.T) {
	const total = 1000
	srv := testenv.RabbitMQ(t)
	environ := rabbitEnv(t, srv.URL())
	topic := rabbitTopic(t, "restart")
	sub := startSubscriber(t, environ, topic, "--durable", "restart", "-o", "json")
	if res := micro(t, environ, "publish", topic, "--confirm", `{"n":0}`); res.code != 0 {
		t.Fatalf("publish: %s", res)
	}
	sub.waitLines(t, 1)

	pub := start(t, environ, microBin, "publish", topic, "--confirm", "--timeout", "2m", "--count", fmt.Sprint(total), `{"n":{{.Count}}}`)
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := len(sub.lines()); n < 100 {
			return fmt.Errorf("%d lines so far", n)
		}
		return nil
	})
	before := len(sub.lines())
	srv.Restart(t)
	t.Logf("restarted rabbitmq after %d of %d messages had arrived", before, total)
	if before >= total {
		t.Fatalf("the publisher finished before the restart (%d lines): the test shows nothing; publish more", before)
	}
	if code := pub.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("micro publish --confirm across the restart: exit %d\n%s", code, pub.Output())
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		seen := numbers(t, sub.lines())
		for n := 1; n <= total; n++ {
			if seen[n] == 0 {
				return fmt.Errorf("message %d has not arrived (%d distinct of %d)", n, len(seen)-1, total)
			}
		}
		return nil
	})
	seen := numbers(t, sub.lines())
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	t.Logf("all %d messages arrived across the restart, %d more than once (at least once); subscriber's stderr:\n%s", total, dups, sub.stderr)
	addr := "amqp://" + srv.Addr() + "/"
	for _, want := range []string{"micro: disconnected from " + addr, "; reconnecting", "micro: reconnected to " + addr} {
		if !strings.Contains(sub.stderr.String(), want) {
			t.Errorf("subscriber's stderr lacks %q:\n%s", want, sub.stderr)
		}
	}
	select {
	case <-sub.done:
		t.Fatal("the subscriber exited")
	default:
	}
}
