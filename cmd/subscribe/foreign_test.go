package subscribe

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/internal/testenv"
)

// TestDurablePushConsumer: --durable naming a push consumer that another
// tool made consumes it.
func TestDurablePushConsumer(t *testing.T) {
	srv := testenv.NATS(t)
	nc := publisher(t, srv.URL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdatePushConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{
		Durable: "billing", DeliverSubject: "deliver.billing", FilterSubject: "orders.created", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := js.Publish(ctx, "orders.created", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	s := start(t, srv.URL(), cmdutil.OutputJSON, "orders.created", "--durable", "billing", "--count", "3", "--timeout", "10s")
	if err := s.wait(t); err != nil {
		t.Fatalf("%v\nstderr: %s", err, s.stderr)
	}
	got := lines(s.stdout.String())
	if len(got) != 3 {
		t.Fatalf("want 3 messages, have %q", got)
	}
	for i, line := range got {
		var m jsonMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.Stream != "ORDERS" || string(m.Body) != fmt.Sprint(i+1) {
			t.Errorf("message %d: have %s (%v)", i+1, line, err)
		}
	}
}

// TestStreamWithoutTheTopic: --stream naming a stream that does not store
// the topic is an error at once, not a subscription that waits forever.
func TestStreamWithoutTheTopic(t *testing.T) {
	srv := testenv.NATS(t)
	nc := publisher(t, srv.URL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	s := start(t, srv.URL(), "", "payments.done", "--durable", "d", "--stream", "ORDERS")
	err = s.wait(t)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{`stream "ORDERS"`, `does not store topic "payments.done" (its subjects: orders.>)`, "give --stream the stream that stores payments.done", "nats stream edit ORDERS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error should say %q: %v", want, err)
		}
	}
	if strings.Contains(s.stderr.String(), "subscribed") {
		t.Errorf("it should not say it subscribed: %s", s.stderr)
	}
}
