package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/config"
)

func testFactory() *cmdutil.Factory {
	ios, _, _, _ := iostreams.Test()
	return &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) { return config.Config{Timeout: time.Second}, nil }}
}

func TestArguments(t *testing.T) {
	cases := []struct {
		args      []string
		wantErr   string
		wantTotal int
	}{
		{args: []string{"greeter", "Greeter.Hello"}, wantTotal: DefaultCalls},
		{args: []string{"greeter", "Greeter.Hello", "-z", "1s"}, wantTotal: 0},
		{args: []string{"greeter", "Greeter.Hello", "-n", "5", "-z", "1s"}, wantTotal: 5},
		{args: []string{"greeter", "Greeter.Hello", "-c", "0"}, wantErr: "-c 0"},
		{args: []string{"greeter", "Greeter.Hello", "-n", "0"}, wantErr: "never end"},
		{args: []string{"greeter", "Greeter.Hello", "--rps", "-1"}, wantErr: "--rps"},
		{args: []string{"greeter", "Greeter.Hello", "--strategy", "fastest"}, wantErr: "--strategy"},
		{args: []string{"greeter", "Greeter.Hello", "{}", "-d", "{}"}, wantErr: "not both"},
		{args: []string{"greeter", "Greeter.Hello", "-d", "@-"}, wantErr: "@-"},
		{args: []string{"greeter", "Greeter.Hello", "--max-error-rate", "2"}, wantErr: "fraction"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var got *Options
			cmd := NewCmdBench(testFactory(), func(_ context.Context, o *Options) error {
				got = o
				return nil
			})
			cmd.SetArgs(tc.args)
			cmd.SetOut(&strings.Builder{})
			cmd.SetErr(&strings.Builder{})
			err := cmd.Execute()
			if tc.wantErr != "" {
				var usage *cmdutil.UsageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want a usage error naming %q, have %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Total != tc.wantTotal {
				t.Errorf("want -n %d, have %d", tc.wantTotal, got.Total)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	tmpl, err := newRequestTemplate(`{"name":"u{{.RequestNumber}}-w{{.WorkerID}}","n":{{randomInt 5 6}},"s":"{{randomString 4}}","id":"{{uuid}}"}`)
	if err != nil {
		t.Fatal(err)
	}
	have, err := tmpl.render(7, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(have, `{"name":"u7-w2","n":5,"s":"`) || len(have) != len(`{"name":"u7-w2","n":5,"s":"abcd","id":"00000000-0000-4000-8000-000000000000"}`) {
		t.Errorf("have %s", have)
	}
	plain, _ := newRequestTemplate(`{"name":"{x}"}`)
	if have, _ := plain.render(1, 1); have != `{"name":"{x}"}` {
		t.Errorf("a request without {{ must be sent as it is, have %s", have)
	}
	if _, err := newRequestTemplate(`{{.Nope`); err == nil {
		t.Error("a malformed template: want an error")
	}
	bad, _ := newRequestTemplate(`{{randomInt 3 1}}`)
	if _, err := bad.render(0, 0); err == nil {
		t.Error("randomInt with an empty range: want an error")
	}
}

func TestSummary(t *testing.T) {
	res := &result{elapsed: time.Second, codes: map[codes.Code]int{codes.OK: 999, codes.Unavailable: 1}, nodes: map[string]int{"a 127.0.0.1:1": 600, "b 127.0.0.1:2": 400}, errors: map[string]int{"Unavailable: gone": 1}, count: 1000, failed: 1}
	for i := 1; i <= 1000; i++ {
		res.latencies = append(res.latencies, time.Duration(i)*time.Microsecond)
	}
	s := summarize(res)
	want := Latency{Min: time.Microsecond, Mean: 500500 * time.Nanosecond, P50: 500 * time.Microsecond, P90: 900 * time.Microsecond, P99: 990 * time.Microsecond, P999: 999 * time.Microsecond, Max: time.Millisecond}
	if s.Latency != want {
		t.Errorf("want %+v, have %+v", want, s.Latency)
	}
	if s.RPS != 1000 || s.Nodes[0].ID != "a" || s.Nodes[0].Count != 600 || s.StatusCodes["Unavailable"] != 1 {
		t.Errorf("summary: %+v", s)
	}
	sum := 0
	for _, b := range s.Histogram {
		sum += b.Count
	}
	if len(s.Histogram) != histogramBuckets || sum != 1000 || s.Histogram[histogramBuckets-1].Le != time.Millisecond {
		t.Errorf("histogram: %+v", s.Histogram)
	}

	if err := check(s, &Options{MaxErrorRate: -1}); !errors.Is(err, ErrThreshold) || !strings.Contains(err.Error(), "1 of 1000 calls failed") {
		t.Errorf("a failed call: want ErrThreshold, have %v", err)
	}
	if err := check(s, &Options{MaxErrorRate: 0.01}); err != nil {
		t.Errorf("an error rate of 0.001 under 0.01: want nil, have %v", err)
	}
	if err := check(s, &Options{MaxErrorRate: 0.01, MaxP99: 500 * time.Microsecond}); err == nil || !strings.Contains(err.Error(), "--max-p99") {
		t.Errorf("p99 above --max-p99: want an error naming it, have %v", err)
	}
	var out strings.Builder
	if err := writeSummary(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Requests/sec:  1000.00", "p99.9", "[Unavailable]  1", "127.0.0.1:1  a  600", "Unavailable: gone"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
