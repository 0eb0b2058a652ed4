package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
)

// TestRunHandlesGreetedEvents runs greeter against an embedded NATS server
// and publishes greeter.greeted events with a plain NATS client, as `nats
// pub` would: JSON, and protobuf. Each is logged as handled.
func TestRunHandlesGreetedEvents(t *testing.T) {
	srv := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	logs := &testutil.SyncBuffer{}
	env := map[string]string{
		"MICRO_REGISTRY":         "nats",
		"MICRO_REGISTRY_ADDRESS": srv.URL(),
		"MICRO_SERVER_ADDRESS":   "127.0.0.1:0",
	}
	done := make(chan error, 1)
	go func() { done <- run(runCtx, mapLookup(env), logs) }()
	waitForLog(t, logs, regexp.MustCompile(`msg=subscribed .*topic=greeter.greeted queue=greeter`))
	waitForLog(t, logs, regexp.MustCompile(`msg="service started"`))

	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	jsonEvent := natsgo.NewMsg("greeter.greeted")
	jsonEvent.Header.Set("Content-Type", "application/json")
	jsonEvent.Data = []byte(`{"name":"Ada","at":"2025-01-02T03:04:05Z"}`)
	if err := nc.PublishMsg(jsonEvent); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, logs, regexp.MustCompile(`msg="handled event" topic=greeter.greeted name=Ada at=2025-01-02T03:04:05Z`))

	body, err := proto.Marshal(&greeterpb.Greeted{Name: "Grace"})
	if err != nil {
		t.Fatal(err)
	}
	protoEvent := natsgo.NewMsg("greeter.greeted")
	protoEvent.Header.Set("Content-Type", "application/protobuf")
	protoEvent.Data = body
	if err := nc.PublishMsg(protoEvent); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, logs, regexp.MustCompile(`msg="handled event" topic=greeter.greeted name=Grace`))

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: want nil after a clean stop, have %v", err)
	}
	if !strings.Contains(logs.String(), "msg=unsubscribed") {
		t.Errorf("want the subscriptions drained on stop:\n%s", logs)
	}
}

func waitForLog(t *testing.T, logs *testutil.SyncBuffer, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !re.MatchString(logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s:\n%s", re, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunFailsWhenNamedBrokerIsUnreachable: a broker address that was set
// must work; greeter says which one does not.
func TestRunFailsWhenNamedBrokerIsUnreachable(t *testing.T) {
	srv := testenv.NATS(t)
	url := srv.URL()
	srv.Stop()
	env := map[string]string{"MICRO_REGISTRY": "memory", "MICRO_BROKER_ADDRESS": url}
	err := run(t.Context(), mapLookup(env), &testutil.SyncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "cannot reach nats at "+url) {
		t.Fatalf("want an error naming %s, have %v", url, err)
	}
}
