package bench

import (
	"context"
	"encoding/json"
	"net"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/config"
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

// TestLessGarbageCollection: the default target becomes benchGCPercent for
// the run and comes back after; a target GOGC chose stays as it is.
func TestLessGarbageCollection(t *testing.T) {
	original := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(original) })
	restore := lessGarbageCollection()
	if have := debug.SetGCPercent(benchGCPercent); have != benchGCPercent {
		t.Errorf("during a run: want GOGC %d, have %d", benchGCPercent, have)
	}
	restore()
	if have := debug.SetGCPercent(50); have != 100 {
		t.Errorf("after a run: want GOGC 100 again, have %d", have)
	}
	restore = lessGarbageCollection()
	if have := debug.SetGCPercent(50); have != 50 {
		t.Errorf("with GOGC=50 chosen: want it kept, have %d", have)
	}
	restore()
}
