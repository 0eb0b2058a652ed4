package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/natsserver"
)

// TestMeasure runs against an embedded NATS server on 127.0.0.1: both
// the figures are measured.
func TestMeasure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Options{Address: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	first, connect, rtt, err := measure(srv.ClientURL(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if first <= 0 || connect <= 0 || rtt <= 0 {
		t.Errorf("first connect %v, connect %v, round trip %v: want all measured", first, connect, rtt)
	}
}

// TestMeasureNoServer: a server that is not there is an error naming it.
func TestMeasureNoServer(t *testing.T) {
	_, _, _, err := measure("nats://127.0.0.1:1", 1)
	if err == nil || !strings.Contains(err.Error(), "connect to nats://127.0.0.1:1") {
		t.Errorf("err = %v, want one naming nats://127.0.0.1:1", err)
	}
}
