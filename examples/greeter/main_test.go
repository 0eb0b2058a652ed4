package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"

	"github.com/microtools/micro/internal/testutil"
)

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// TestRun starts greeter with the in-memory registry, calls Hello at the
// address it logs, and stops it.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	logs := &testutil.SyncBuffer{}
	env := map[string]string{"MICRO_REGISTRY": "memory", "MICRO_SERVER_ADDRESS": "127.0.0.1:0"}
	done := make(chan error, 1)
	go func() { done <- run(runCtx, mapLookup(env), logs) }()

	started := regexp.MustCompile(`msg="service started".* id=(greeter-\S+) .*listen=(\S+) advertise=(\S+)`)
	var match []string
	deadline := time.Now().Add(10 * time.Second)
	for match == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no start line logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
		match = started.FindStringSubmatch(logs.String())
	}
	if match[2] != match[3] || !strings.HasPrefix(match[3], "127.0.0.1:") {
		t.Errorf("want listen and advertise on the same 127.0.0.1 address, have %q and %q", match[2], match[3])
	}

	conn, err := grpc.NewClient(match[3], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", match[3], err)
	}
	defer conn.Close()
	resp, err := greeterpb.NewGreeterClient(conn).Hello(ctx, &greeterpb.HelloRequest{Name: "Ada"})
	if err != nil || resp.GetMessage() != "Hello Ada" {
		t.Fatalf("Hello: %v, %v", resp, err)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: want nil after a clean stop, have %v", err)
	}
	if !strings.Contains(logs.String(), "deregistered") {
		t.Errorf("want the deregistration logged:\n%s", logs.String())
	}
}

func TestRunRejectsBadEnvironment(t *testing.T) {
	env := map[string]string{"MICRO_REGISTRY": "memory", "MICRO_REGISTER_TTL": "soon"}
	err := run(t.Context(), mapLookup(env), &testutil.SyncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "MICRO_REGISTER_TTL") {
		t.Fatalf("want an error naming MICRO_REGISTER_TTL, have %v", err)
	}
}
