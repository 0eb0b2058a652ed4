package bench

import (
	"context"
	"encoding/json"
	"maps"
	"net"
	"slices"
	"strings"
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
