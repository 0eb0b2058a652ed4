package bench

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
)

// startGreeter serves the example greeter with reflection on 127.0.0.1.
func startGreeter(t *testing.T) string {
	t.Helper()
	server := grpc.NewServer()
	greeterpb.RegisterGreeterServer(server, handler.New())
	reflection.Register(server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(lis)
	t.Cleanup(server.Stop)
	return lis.Addr().String()
}

// A run bounded by -z ends when its time is up: the calls cut by the end
// are neither failures nor counted, however the gRPC layer reports them
// (it sees the run's deadline before the context does). Before the fix,
// about half of such runs reported DeadlineExceeded failures.
func TestDurationRunHasNoFailures(t *testing.T) {
	addr := startGreeter(t)
	const runs = 8
	for i := range runs {
		ios, _, stdout, stderr := iostreams.Test()
		f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) {
			return config.Config{Timeout: 5 * time.Second, Env: func(string) (string, bool) { return "", false }}, nil
		}}
		f.OutputFormat = func() string { return cmdutil.OutputJSON }
		cmd := NewCmdBench(f, nil)
		cmd.SetArgs([]string{"greeter", "Greeter.Hello", `{"name":"Ada"}`, "--address", addr, "--no-cache", "-c", "8", "-z", "300ms"})
		cmd.SetOut(&strings.Builder{})
		cmd.SetErr(&strings.Builder{})
		err := cmd.ExecuteContext(context.Background())
		var summary struct {
			Count       int            `json:"count"`
			Failed      int            `json:"failed"`
			StatusCodes map[string]int `json:"status_codes"`
		}
		if jsonErr := json.Unmarshal(stdout.Bytes(), &summary); jsonErr != nil {
			t.Fatalf("run %d: bench -o json printed what is not JSON: %v\n%s\nstderr: %s", i, jsonErr, stdout, stderr)
		}
		if err != nil || summary.Failed != 0 || summary.Count == 0 || summary.StatusCodes["OK"] != summary.Count {
			t.Fatalf("run %d of %d: want calls, none failed, no error; have error %v, %d calls, %d failed, codes %v", i+1, runs, err, summary.Count, summary.Failed, summary.StatusCodes)
		}
	}
}

// The workers' tallies add up: calls in a row to one node and calls to
// two node values of the same id and address count as one node; failures
// by code and by message; every latency in the workers' order.
func TestMergeTallies(t *testing.T) {
	a := &registry.Node{ID: "a", Address: "127.0.0.1:1"}
	aAgain := &registry.Node{ID: "a", Address: "127.0.0.1:1"} // a selector refreshed, say
	b := &registry.Node{ID: "b", Address: "127.0.0.1:2"}
	tallies := make([]tally, 2)
	for i, o := range []outcome{
		{latency: 1, code: codes.OK, node: a},
		{latency: 2, code: codes.OK, node: a},
		{latency: 3, code: codes.Unavailable, node: b, err: "Unavailable: gone"},
		{latency: 4, code: codes.OK, node: aAgain},
		{latency: 5, code: codes.InvalidArgument, err: "request template: bad"}, // no node: never sent
	} {
		tallies[i%2].record(o)
	}
	for i := range tallies {
		tallies[i].flushNode()
	}
	res := merge(time.Second, tallies)
	wantNodes := map[string]int{"a 127.0.0.1:1": 3, "b 127.0.0.1:2": 1}
	wantCodes := map[codes.Code]int{codes.OK: 3, codes.Unavailable: 1, codes.InvalidArgument: 1}
	wantErrors := map[string]int{"Unavailable: gone": 1, "request template: bad": 1}
	if !maps.Equal(res.nodes, wantNodes) || !maps.Equal(res.codes, wantCodes) || !maps.Equal(res.errors, wantErrors) {
		t.Errorf("want nodes %v, codes %v, errors %v; have %v, %v, %v", wantNodes, wantCodes, wantErrors, res.nodes, res.codes, res.errors)
	}
	if res.count != 5 || res.failed != 2 || !slices.Equal(res.latencies, []time.Duration{1, 3, 5, 2, 4}) {
		t.Errorf("want 5 calls, 2 failed, latencies [1 3 5 2 4]; have %d, %d, %v", res.count, res.failed, res.latencies)
	}
}

// watchedGreeter is the example greeter, noting for each Hello whether
// its context had a deadline and whether it was cancelled before the
// handler returned.
type watchedGreeter struct {
	greeterpb.GreeterServer
	deadlines, cancelled atomic.Int64
}

func (g *watchedGreeter) Hello(ctx context.Context, req *greeterpb.HelloRequest) (*greeterpb.HelloResponse, error) {
	if _, ok := ctx.Deadline(); ok {
		g.deadlines.Add(1)
	}
	resp, err := g.GreeterServer.Hello(ctx, req)
	if ctx.Err() != nil {
		g.cancelled.Add(1)
	}
	return resp, err
}

// --timeout bounds each call of a run: the calls that run past it fail
// with DeadlineExceeded after about the timeout, their handlers are
// cancelled, and the calls after them on the same worker succeed. The
// server is given no deadline (see callTimer), for -n and -z runs alike.
func TestCallTimeout(t *testing.T) {
	server := grpc.NewServer()
	greeter := &watchedGreeter{GreeterServer: handler.New()}
	greeterpb.RegisterGreeterServer(server, greeter)
	reflection.Register(server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(lis)
	t.Cleanup(server.Stop)

	const timeout = 200 * time.Millisecond
	// Calls 1, 4 and 7 of 0..8 wait 5s: past the timeout.
	request := `{"name":"Ada","delayMs":{{if eq (mod .RequestNumber 3) 1}}5000{{else}}0{{end}}}`
	for _, bound := range [][]string{{"-n", "9"}, {"-n", "9", "-z", "1m"}} {
		t.Run(strings.Join(bound, " "), func(t *testing.T) {
			greeter.deadlines.Store(0)
			greeter.cancelled.Store(0)
			ios, _, stdout, stderr := iostreams.Test()
			f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) {
				return config.Config{Timeout: timeout, Env: func(string) (string, bool) { return "", false }}, nil
			}}
			f.OutputFormat = func() string { return cmdutil.OutputJSON }
			cmd := NewCmdBench(f, nil)
			cmd.SetArgs(append([]string{"greeter", "Greeter.Hello", request, "--address", lis.Addr().String(), "--no-cache", "-c", "2"}, bound...))
			cmd.SetOut(&strings.Builder{})
			cmd.SetErr(&strings.Builder{})
			begin := time.Now()
			err := cmd.ExecuteContext(context.Background())
			took := time.Since(begin)
			var summary struct {
				Count       int                `json:"count"`
				Failed      int                `json:"failed"`
				StatusCodes map[string]int     `json:"status_codes"`
				Errors      []ErrorCount       `json:"errors"`
				LatencyMs   map[string]float64 `json:"latency_ms"`
			}
			if jsonErr := json.Unmarshal(stdout.Bytes(), &summary); jsonErr != nil {
				t.Fatalf("bench -o json printed what is not JSON: %v\n%s\nstderr: %s", jsonErr, stdout, stderr)
			}
			if !errors.Is(err, ErrThreshold) {
				t.Errorf("want the run to fail for its failed calls, have %v", err)
			}
			if summary.Count != 9 || summary.Failed != 3 || summary.StatusCodes["DeadlineExceeded"] != 3 || summary.StatusCodes["OK"] != 6 {
				t.Errorf("want 9 calls, 3 DeadlineExceeded and 6 OK; have %d calls, %d failed, codes %v", summary.Count, summary.Failed, summary.StatusCodes)
			}
			if len(summary.Errors) != 1 || summary.Errors[0].Error != "DeadlineExceeded: context deadline exceeded" {
				t.Errorf("want the errors of a deadline, have %+v", summary.Errors)
			}
			maxLatency := time.Duration(summary.LatencyMs["max"] * float64(time.Millisecond))
			if maxLatency < timeout || maxLatency > 2*time.Second || took > 4*time.Second {
				t.Errorf("want the slow calls cut after about %s; have the slowest %s, the run %s", timeout, maxLatency, took)
			}
			waitFor(t, func() bool { return greeter.cancelled.Load() == 3 }, "the 3 slow handlers cancelled")
			// The warm-up call has a deadline of its own; the run's calls none.
			if have := greeter.deadlines.Load(); have != 1 {
				t.Errorf("want only the warm-up call to carry a deadline to the server, have %d calls with one", have)
			}
		})
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
