package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A push consumer made by another NATS client (natscli's `nats consumer
// add` makes push consumers) is consumed by `micro subscribe --durable`; a
// --stream that does not store the topic is an error at once for subscribe
// and publish, naming the stream, its subjects and what to do.
func TestPubSubForeignStreams(t *testing.T) {
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	js, err := jetstream.New(bareClient(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdatePushConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{
		Durable: "billing", DeliverSubject: "deliver.billing", DeliverGroup: "billing",
		FilterSubject: "orders.created", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		res := micro(t, environ, "publish", "orders.created", fmt.Sprintf(`{"n":%d}`, i), "--jetstream")
		if res.code != 0 || res.stdout != fmt.Sprintf("stream ORDERS sequence %d\n", i) {
			t.Fatalf("publish %d: %s", i, res)
		}
	}

	res := micro(t, environ, "subscribe", "orders.created", "--durable", "billing", "--count", "2", "--timeout", "15s", "-o", "json")
	if res.code != 0 {
		t.Fatalf("subscribe to the push consumer: %s", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 messages, have %s", res)
	}
	for i, line := range lines {
		if m := decodeLine(t, line); m.Stream != "ORDERS" || string(m.Body) != fmt.Sprintf(`{"n":%d}`, i+1) {
			t.Errorf("message %d: %s", i+1, line)
		}
	}
	// Acknowledged: the next subscriber of the durable gets nothing again.
	res = micro(t, environ, "subscribe", "orders.created", "--durable", "billing", "--count", "1", "--timeout", "1s")
	if res.code != 1 || res.stdout != "" {
		t.Errorf("the messages were acknowledged: want none delivered again (exit 1 for the missing --count), have %s", res)
	}

	// A durable that follows another topic: what it is and what to do.
	res = micro(t, environ, "subscribe", "orders.deleted", "--durable", "billing")
	assertCleanError(t, res, 1, `durable "billing" of stream "ORDERS" follows "orders.created", not "orders.deleted"`, "nats consumer rm ORDERS billing")

	// --stream that does not store the topic: an error at once.
	started := time.Now()
	res = micro(t, environ, "subscribe", "payments.done", "--durable", "d", "--stream", "ORDERS")
	assertCleanError(t, res, 1, `does not store topic "payments.done" (its subjects: orders.>)`, "give --stream the stream that stores payments.done", "nats stream edit ORDERS")
	if took := time.Since(started); took > 10*time.Second {
		t.Errorf("subscribe took %s to fail", took)
	}
	res = micro(t, environ, "publish", "payments.done", `{}`, "--jetstream", "--stream", "ORDERS")
	assertCleanError(t, res, 1, `does not store topic "payments.done" (its subjects: orders.>)`, "give --stream the stream that stores payments.done")
	if strings.Contains(res.stderr, "broker.CreateStream") {
		t.Errorf("publish should not point at a Go function: %s", res.stderr)
	}
}
